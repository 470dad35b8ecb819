package floodgate

import (
	"encoding/json"
	"io"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/floodgate-proxy/floodgate/internal/explain"
	"github.com/floodgate-proxy/floodgate/internal/hoststatus"
	"github.com/floodgate-proxy/floodgate/internal/protect"
)

func init() {
	caddy.RegisterModule(ToolsAPI{})
}

// ToolsAPI serves `floodgate explain` and `floodgate status` through Caddy's admin endpoint
// (loopback only by default):
//
//	POST /floodgate/explain   body: {"ip":…,"ua":…,"host":…,"method":…,"path":…,"query":…,"status":…}
//	                          answer: the explanation, as text, with the running config's live counters
//	GET  /floodgate/status    the host now (JSON): sites under attack and quarantined and since
//	                          when, requests per second by class and action over the last minute,
//	                          the counter store's health
type ToolsAPI struct{}

// CaddyModule returns the Caddy module information.
func (ToolsAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.floodgate_tools",
		New: func() caddy.Module { return new(ToolsAPI) },
	}
}

// Routes returns the admin routes.
func (t ToolsAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{
		{Pattern: "/floodgate/explain", Handler: caddy.AdminHandlerFunc(t.explain)},
		{Pattern: "/floodgate/status", Handler: caddy.AdminHandlerFunc(t.status)},
	}
}

// hostRates counts the requests of the last minute for /floodgate/status; process-wide, so a
// reload keeps it.
var hostRates hoststatus.Rates

func runningState() (*state, error) {
	p, err := protectionOrError()
	if err != nil {
		return nil, err
	}
	st := p.current.Load()
	if st == nil {
		return nil, caddy.APIError{HTTPStatus: http.StatusServiceUnavailable, Message: "floodgate is not running in this configuration"}
	}
	return st, nil
}

func (ToolsAPI) explain(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodPost {
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Message: "use POST with the request as JSON: {\"ip\":…,\"ua\":…,\"host\":…,\"path\":…}"}
	}
	st, err := runningState()
	if err != nil {
		return err
	}
	var in explain.Input
	dec := json.NewDecoder(io.LimitReader(r.Body, 64*1024))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return caddy.APIError{HTTPStatus: http.StatusBadRequest, Message: "expected a JSON object of ip, ua, host, method, path, query, status: " + err.Error()}
	}
	req, err := in.Request()
	if err != nil {
		return caddy.APIError{HTTPStatus: http.StatusBadRequest, Message: err.Error()}
	}
	e := explain.Explain(r.Context(), st.classifier, st.decider, st.protection, req, in.Status, time.Now())
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	return e.WriteText(w)
}

func (ToolsAPI) status(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Message: "use GET"}
	}
	st, err := runningState()
	if err != nil {
		return err
	}
	now := time.Now()
	var out hoststatus.Status
	out.Now = now.UTC()
	out.UnderAttack = st.protection.detector.ActiveSince()
	out.Quarantined = st.protection.quarantine.List(now)
	out.PerSecond.Window = hoststatus.Window.String()
	out.PerSecond.ByClass, out.PerSecond.ByAction = hostRates.LastMinute(now)
	out.Store.Healthy = true
	var s any = st.store
	if ps, ok := s.(pooledStore); ok {
		s = ps.Store
	}
	if h, ok := s.(healthReporter); ok {
		out.Store.Shared, out.Store.Healthy = true, h.Healthy()
	}
	if out.UnderAttack == nil {
		out.UnderAttack = []protect.SiteOn{}
	}
	if out.Quarantined == nil {
		out.Quarantined = []protect.Entry{}
	}
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(out)
}

var _ caddy.AdminRouter = ToolsAPI{}
