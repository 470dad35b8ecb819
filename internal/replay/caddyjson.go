package replay

import (
	"encoding/json"
	"errors"
	"math"
	"net"
	"net/netip"
	"strings"
	"time"
)

// caddyLine is the part of a Caddy JSON access-log line replay reads.
type caddyLine struct {
	TS      float64 `json:"ts"`
	Msg     string  `json:"msg"`
	Request struct {
		RemoteIP string `json:"remote_ip"`
		ClientIP string `json:"client_ip"`
		Method   string `json:"method"`
		Host     string `json:"host"`
		URI      string `json:"uri"`
		Headers  struct {
			UserAgent []string `json:"User-Agent"`
		} `json:"headers"`
	} `json:"request"`
	Status   int     `json:"status"`
	Duration float64 `json:"duration"`
}

// parseCaddyJSON reads one line of Caddy's JSON access log (the log directive's default
// encoder: ts in seconds, request.client_ip, request.headers, status, duration in seconds).
func parseCaddyJSON(line []byte, e *Entry) error {
	var l caddyLine
	if err := json.Unmarshal(line, &l); err != nil {
		return errors.New("not a JSON object")
	}
	ipText := l.Request.ClientIP
	if ipText == "" {
		ipText = l.Request.RemoteIP
	}
	if ipText == "" || l.Request.Method == "" {
		return errors.New("not a request line of Caddy's access log (no request.client_ip or request.method)")
	}
	ip, err := netip.ParseAddr(ipText)
	if err != nil {
		return errors.New("request.client_ip " + ipText + " is not an IP address")
	}
	sec, frac := math.Modf(l.TS)
	host := strings.ToLower(l.Request.Host)
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	path, query, _ := strings.Cut(l.Request.URI, "?")
	*e = Entry{
		Time:    time.Unix(int64(sec), int64(frac*1e9)).UTC(),
		IP:      ip.Unmap(),
		Method:  l.Request.Method,
		Host:    host,
		Path:    path,
		Query:   query,
		Status:  l.Status,
		Latency: time.Duration(l.Duration * float64(time.Second)),
	}
	if len(l.Request.Headers.UserAgent) > 0 {
		e.UserAgent = l.Request.Headers.UserAgent[0]
	}
	return nil
}
