package harness

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// The shipped Caddyfile (Caddyfile.example) takes its settings from environment
// placeholders, {$NAME:default}. The matrix runs that file as a new user would: the harness
// fills in only where to listen, the upstream, the trusted proxies, the admin endpoint, the
// ASN database, the store and the pass key, and leaves every other setting as shipped.

// placeholder matches a Caddyfile environment placeholder {$NAME} or {$NAME:default}.
var placeholder = regexp.MustCompile(`\{\$([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}`)

// ShippedSettings are the values the harness gives the shipped Caddyfile's placeholders.
// Placeholders not named here get their shipped default.
type ShippedSettings map[string]string

// FillShipped returns the shipped Caddyfile src with its placeholders replaced: by set's
// value when set names them, else by their default. Every name in set must be a placeholder
// of src (a renamed setting must fail the run, not be silently ignored). It also makes
// every listener bind to loopback only (Caddy's default_bind global option), the one line
// the harness adds: the benchmark sends nothing off the machine and listens on nothing
// else.
func FillShipped(src string, set ShippedSettings) (string, error) {
	used := map[string]bool{}
	out := placeholder.ReplaceAllStringFunc(src, func(m string) string {
		sub := placeholder.FindStringSubmatch(m)
		if v, ok := set[sub[1]]; ok {
			used[sub[1]] = true
			return v
		}
		return sub[2]
	})
	var missing []string
	for k := range set {
		if !used[k] {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return "", fmt.Errorf("shipped Caddyfile has no placeholder %s: the harness cannot configure it as shipped", strings.Join(missing, ", "))
	}
	return bindLoopback(out)
}

// bindLoopback adds `default_bind 127.0.0.1` at the top of the global options block.
func bindLoopback(src string) (string, error) {
	lines := strings.SplitAfter(src, "\n")
	for i, l := range lines {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		if t != "{" {
			return "", errors.New("shipped Caddyfile: expected a global options block `{` first")
		}
		return strings.Join(lines[:i+1], "") + "\tdefault_bind 127.0.0.1 # added by floodgate-bench: loopback only\n" + strings.Join(lines[i+1:], ""), nil
	}
	return "", errors.New("shipped Caddyfile: empty")
}

// WithoutFloodgate returns the Caddyfile src with every floodgate block removed (the
// floodgate global option and the floodgate directive, with what their braces hold): the
// plain-Caddy arm, with the same listeners, logs, metrics and error pages.
func WithoutFloodgate(src string) (string, error) {
	var b strings.Builder
	depth, skipFrom := 0, -1
	removed := 0
	for _, l := range strings.SplitAfter(src, "\n") {
		t := strings.TrimSpace(l)
		code := t
		if i := strings.Index(code, "#"); i >= 0 {
			code = strings.TrimSpace(code[:i])
		}
		if skipFrom < 0 && (code == "floodgate" || strings.HasPrefix(code, "floodgate ") || strings.HasPrefix(code, "floodgate\t")) {
			removed++
			if strings.HasSuffix(code, "{") {
				skipFrom = depth
				depth++
			}
			continue
		}
		opens, closes := strings.Count(code, "{"), strings.Count(code, "}")
		depth += opens - closes
		if skipFrom >= 0 {
			if depth <= skipFrom {
				skipFrom = -1
			}
			continue
		}
		b.WriteString(l)
	}
	if skipFrom >= 0 || depth != 0 {
		return "", errors.New("Caddyfile: unbalanced braces")
	}
	if removed == 0 {
		return "", errors.New("Caddyfile: no floodgate block to remove")
	}
	return b.String(), nil
}
