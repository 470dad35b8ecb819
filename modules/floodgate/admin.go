package floodgate

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/floodgate-proxy/floodgate/internal/fleet"
	"github.com/floodgate-proxy/floodgate/internal/normalize"
	"github.com/floodgate-proxy/floodgate/internal/protect"
)

func init() {
	caddy.RegisterModule(AdminAPI{})
}

// AdminAPI gives techs a hand on the backend's protection through Caddy's admin endpoint:
//
//	GET    /floodgate/sites                              quarantined sites and sites under attack
//	POST   /floodgate/under-attack?site=NAME&mode=on     on, off or auto (back to the signals)
//	POST   /floodgate/quarantine?site=HOST&for=10m       quarantine a site by hand
//	DELETE /floodgate/quarantine?site=HOST               lift a quarantine
//
// NAME is a site's name from a rule file's sites: section, one of its hosts, or a host
// floodgate has seen requests for; any other name is refused with 404. mode=auto hands the
// site back to the signals: a site that is on stays on until it has been calm for off_after,
// then switches off. With Redis, these act on every proxy sharing it (within a second) and GET
// shows the fleet's view (the "fleet" field: this proxy's id, whether Redis answers, and each
// site's state). Changes made here last until the next change or reload (a site's
// under_attack setting in its rule file applies again on reload).
type AdminAPI struct{}

// currentProtection is the protection of the running config, for the admin API.
var currentProtection atomic.Pointer[protection]

// CaddyModule returns the Caddy module information.
func (AdminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.floodgate",
		New: func() caddy.Module { return new(AdminAPI) },
	}
}

// Routes returns the admin routes.
func (a AdminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{
		{Pattern: "/floodgate/sites", Handler: caddy.AdminHandlerFunc(a.sites)},
		{Pattern: "/floodgate/under-attack", Handler: caddy.AdminHandlerFunc(a.underAttack)},
		{Pattern: "/floodgate/quarantine", Handler: caddy.AdminHandlerFunc(a.quarantine)},
		{Pattern: "/floodgate/admission", Handler: caddy.AdminHandlerFunc(a.admission)},
	}
}

func protectionOrError() (*protection, error) {
	p := currentProtection.Load()
	if p == nil {
		return nil, caddy.APIError{HTTPStatus: http.StatusServiceUnavailable, Message: "floodgate is not running in this configuration"}
	}
	return p, nil
}

func (AdminAPI) sites(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Message: "use GET"}
	}
	p, err := protectionOrError()
	if err != nil {
		return err
	}
	now := time.Now()
	attacked := p.detector.ActiveSites()
	out := struct {
		Quarantined []protect.Entry `json:"quarantined"`
		UnderAttack []string        `json:"under_attack"`
		Fleet       *fleet.View     `json:"fleet,omitempty"`
	}{Quarantined: p.quarantine.List(now), UnderAttack: attacked}
	if f := p.fleet.Load(); f != nil {
		// The fleet's view: what other proxies started or see counts here too.
		v := f.Snapshot(now)
		out.Fleet = &v
		for _, s := range v.Sites {
			if !s.QuarantinedUntil.IsZero() && !slices.ContainsFunc(out.Quarantined, func(e protect.Entry) bool { return e.Site == s.Site }) {
				out.Quarantined = append(out.Quarantined, protect.Entry{Site: s.Site, Until: s.QuarantinedUntil, Reason: s.QuarantineReason})
			}
			if len(s.AttackedBy) > 0 && !slices.Contains(out.UnderAttack, s.Site) {
				out.UnderAttack = append(out.UnderAttack, s.Site)
			}
		}
	}
	slices.Sort(out.UnderAttack)
	slices.SortFunc(out.Quarantined, func(a, b protect.Entry) int { return strings.Compare(a.Site, b.Site) })
	if out.Quarantined == nil {
		out.Quarantined = []protect.Entry{}
	}
	if out.UnderAttack == nil {
		out.UnderAttack = []string{}
	}
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(out)
}

func (AdminAPI) underAttack(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodPost {
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Message: "use POST"}
	}
	p, err := protectionOrError()
	if err != nil {
		return err
	}
	mode, err := protect.ParseMode(r.URL.Query().Get("mode"))
	if err != nil {
		return caddy.APIError{HTTPStatus: http.StatusBadRequest, Message: "expected ?site=NAME&mode=on|off|auto"}
	}
	site, err := p.knownSite(r.URL.Query().Get("site"))
	if err != nil {
		return err
	}
	p.setMode(site, mode) // and across the fleet
	if st := p.current.Load(); st != nil {
		st.logger.Info(fmt.Sprintf("under-attack mode set by hand to %s", mode), zapSite(site), zapRemote(r))
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (AdminAPI) quarantine(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodDelete && r.Method != http.MethodPost {
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Message: "use POST ?site=HOST&for=DURATION to start a quarantine, DELETE ?site=HOST to lift one"}
	}
	p, err := protectionOrError()
	if err != nil {
		return err
	}
	site, ok := normalize.Host(r.URL.Query().Get("site"))
	if !ok {
		return caddy.APIError{HTTPStatus: http.StatusBadRequest, Message: "expected ?site=HOST (a host name)"}
	}
	st := p.current.Load()
	if r.Method == http.MethodPost {
		d, err := time.ParseDuration(r.URL.Query().Get("for"))
		if err != nil || d <= 0 || d > 7*24*time.Hour {
			return caddy.APIError{HTTPStatus: http.StatusBadRequest, Message: "expected ?site=HOST&for=DURATION (a Go duration such as 10m, at most 168h)"}
		}
		until := time.Now().Add(d)
		p.startQuarantine(site, until, "set by hand")
		if f := p.fleet.Load(); f != nil {
			f.SetQuarantine(site, until, "set by hand") // also when it extends one running here
		}
		if st != nil {
			st.logger.Info("quarantine started by hand", zapSite(site), zap.Duration("for", d), zapRemote(r))
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	if !p.endQuarantine(site) {
		return caddy.APIError{HTTPStatus: http.StatusNotFound, Message: "site " + site + " is not quarantined"}
	}
	if st != nil {
		st.logger.Info("quarantine lifted by hand", zapSite(site), zapRemote(r))
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func zapSite(site string) zap.Field       { return zap.String("site", site) }
func zapRemote(r *http.Request) zap.Field { return zap.String("from", r.RemoteAddr) }

var _ caddy.AdminRouter = AdminAPI{}
