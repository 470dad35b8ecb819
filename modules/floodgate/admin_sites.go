package floodgate

import (
	"net/http"

	"github.com/caddyserver/caddy/v2"

	"github.com/floodgate-proxy/floodgate/internal/normalize"
	"github.com/floodgate-proxy/floodgate/internal/rules"
)

// knownSite returns the name under which floodgate knows the site a tech names: a configured
// site's name, the configured site a host belongs to (its name), or a host floodgate has seen
// requests for recently (or whose mode was set by hand). Anything else is a 404, so that a typo
// is not switched on, and listed, as a site of its own.
func (p *protection) knownSite(name string) (string, error) {
	if st := p.current.Load(); st != nil {
		set := st.classifier.Set()
		found := ""
		set.Sites.Each(func(s *rules.Site) {
			if s.Name == name {
				found = s.Name
			}
		})
		if found != "" {
			return found, nil
		}
		// A host spelled as a client may spell it (Shop.Example.org:8080, shop.example.org.,
		// [shop.example.org]) names the site requests with it reach.
		host, ok := normalize.Host(name)
		if !ok {
			return "", caddy.APIError{HTTPStatus: http.StatusBadRequest, Message: "expected ?site=NAME (a site's name or a host name)"}
		}
		if s := set.Sites.Lookup(host); s != nil {
			return s.Name, nil
		}
		name = host
	}
	if p.detector.Tracked(name) {
		return name, nil
	}
	return "", caddy.APIError{HTTPStatus: http.StatusNotFound, Message: "site " + name +
		" is not known: no sites: entry in the rule files has this name or host, and floodgate has seen no recent request for it (GET /floodgate/sites lists the sites under attack or quarantined)"}
}
