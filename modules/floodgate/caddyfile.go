package floodgate

import (
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterGlobalOption("floodgate", parseGlobalOption)
	httpcaddyfile.RegisterHandlerDirective("floodgate", parseHandlerDirective)
	// Early: before redirects, rewrites and try_files change the path rules match on.
	httpcaddyfile.RegisterDirectiveOrder("floodgate", httpcaddyfile.Before, "redir")
}

// parseGlobalOption reads the floodgate global option:
//
//	floodgate {
//		rules         shipped /etc/floodgate/local.yaml
//		asn_db        /var/lib/floodgate/GeoLite2-ASN.mmdb
//		prefix        24 64 48
//		store         memory|<redis URL> {
//			mode          batched|exact
//			sync_interval 100ms
//			timeout       50ms
//			key_prefix    fg:
//			max_keys      1000000
//		}
//		challenge {
//			key        <base64 or hex, 32+ bytes>   (repeatable: the first signs)
//			pass_ttl   7d
//			difficulty 16
//			template   /etc/floodgate/challenge.html
//			cookie_name floodgate_pass
//			visitor_cookie off
//		}
//		protect {
//			backend_max_inflight 64
//			site_max_inflight    16
//			queue_length         1024
//			max_wait             2s
//			under_attack {
//				rate            50/sec
//				latency_factor  3
//				error_share     0.5
//				saturation      0.5
//				challenge_level cookie
//				on_after        500ms
//				off_after       60s
//			}
//		}
//		shadow
//	}
func parseGlobalOption(d *caddyfile.Dispenser, _ any) (any, error) {
	app := new(App)
	d.Next() // "floodgate"
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "rules":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return nil, d.Errf("rules: expected one or more rule files (the word %q stands for the shipped ones)", "shipped")
			}
			app.Rules = append(app.Rules, args...)
		case "asn_db":
			args := d.RemainingArgs()
			switch {
			case len(args) > 1:
				return nil, d.ArgErr()
			case len(args) == 1 && args[0] != "none":
				app.ASNDB = args[0]
			}
		case "prefix":
			args := d.RemainingArgs()
			if len(args) != 2 && len(args) != 3 {
				return nil, d.Errf("prefix: expected two lengths, IPv4 then IPv6, and optionally the wider IPv6 one budgets also count, such as: prefix 24 64 48")
			}
			var err error
			if app.PrefixV4, err = strconv.Atoi(args[0]); err != nil {
				return nil, d.Errf("prefix: IPv4 length %q is not a number", args[0])
			}
			if app.PrefixV6, err = strconv.Atoi(args[1]); err != nil {
				return nil, d.Errf("prefix: IPv6 length %q is not a number", args[1])
			}
			if len(args) == 3 {
				if app.PrefixV6Wide, err = strconv.Atoi(args[2]); err != nil {
					return nil, d.Errf("prefix: wide IPv6 length %q is not a number", args[2])
				}
			}
		case "store":
			if err := parseStore(d, &app.Store); err != nil {
				return nil, err
			}
		case "shadow":
			if d.NextArg() {
				return nil, d.ArgErr()
			}
			app.Shadow = true
		case "challenge":
			if err := parseChallenge(d, &app.Challenge); err != nil {
				return nil, err
			}
		case "protect":
			if err := parseProtect(d, &app.Protect); err != nil {
				return nil, err
			}
		default:
			return nil, d.Errf("unknown floodgate option %q (expected rules, asn_db, prefix, store, challenge, protect or shadow)", d.Val())
		}
	}
	// Ranges are checked by the config structs themselves, as for a JSON config.
	if err := app.Valid(); err != nil {
		return nil, d.Errf("floodgate: %v", err)
	}
	app.ContentHash = contentHash(app.Rules, app.ASNDB)
	return httpcaddyfile.App{Name: "floodgate", Value: caddyconfig.JSON(app, nil)}, nil
}

func parseStore(d *caddyfile.Dispenser, c *StoreConfig) error {
	if !d.NextArg() {
		return d.Errf("store: expected memory or a Redis URL (redis://host:6379)")
	}
	if v := d.Val(); v != "memory" && v != "" {
		c.Redis = v
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		if !d.NextArg() {
			return d.Errf("store %s: expected a value", opt)
		}
		val := d.Val()
		switch opt {
		case "mode":
			c.Mode = val
		case "sync_interval", "timeout":
			dur, err := caddy.ParseDuration(val)
			if err != nil {
				return d.Errf("store %s: %q is not a duration (expected e.g. 100ms)", opt, val)
			}
			if opt == "timeout" {
				c.Timeout = caddy.Duration(dur)
			} else {
				c.SyncInterval = caddy.Duration(dur)
			}
		case "key_prefix":
			c.KeyPrefix = val
		case "max_keys":
			n, err := strconv.Atoi(val)
			if err != nil {
				return d.Errf("store max_keys: %q is not a number", val)
			}
			c.MaxKeys = n
		default:
			return d.Errf("unknown store option %q (expected mode, sync_interval, timeout, key_prefix or max_keys)", opt)
		}
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	return nil
}

// parseHandlerDirective reads the floodgate directive:
//
//	floodgate [{
//		shadow
//		challenge_exempt /api/** /webhooks/*
//		visitor_cookie   off
//	}]
func parseHandlerDirective(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	fh := new(Handler)
	h.Next() // the directive's name
	if h.NextArg() {
		return nil, h.ArgErr()
	}
	for h.NextBlock(0) {
		switch h.Val() {
		case "shadow":
			if h.NextArg() {
				return nil, h.ArgErr()
			}
			fh.Shadow = true
		case "challenge_exempt":
			paths := h.RemainingArgs()
			if len(paths) == 0 {
				return nil, h.Errf("challenge_exempt: expected one or more path globs, such as /api/**")
			}
			fh.ChallengeExempt = append(fh.ChallengeExempt, paths...)
		case "visitor_cookie":
			args := h.RemainingArgs()
			if len(args) != 1 || onOff(args[0]) != nil {
				return nil, h.Errf("visitor_cookie: expected on or off")
			}
			fh.VisitorCookie = args[0]
		default:
			return nil, h.Errf("unknown floodgate subdirective %q (expected shadow, challenge_exempt or visitor_cookie)", h.Val())
		}
	}
	if err := fh.Valid(); err != nil {
		return nil, h.Errf("floodgate: %v", err)
	}
	return fh, nil
}

func parseChallenge(d *caddyfile.Dispenser, c *ChallengeConfig) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		if !d.NextArg() {
			if opt == "key" {
				continue // an empty key (unset environment variable): one is made at start
			}
			return d.Errf("challenge %s: expected a value", opt)
		}
		val := d.Val()
		switch opt {
		case "key":
			if val != "" {
				c.Keys = append(c.Keys, val)
			}
		case "pass_ttl":
			dur, err := caddy.ParseDuration(val)
			if err != nil {
				return d.Errf("challenge pass_ttl: %q is not a duration (expected e.g. 7d or 12h)", val)
			}
			c.PassTTL = caddy.Duration(dur)
		case "difficulty":
			n, err := strconv.Atoi(val)
			if err != nil {
				return d.Errf("challenge difficulty: %q is not a number (expected bits from 1 to 24; 16 is about half a second)", val)
			}
			c.Difficulty = n
		case "template":
			c.Template = val
		case "cookie_name":
			c.CookieName = val
		case "visitor_cookie":
			c.VisitorCookie = val // checked by Valid
		default:
			return d.Errf("unknown challenge option %q (expected key, pass_ttl, difficulty, template, cookie_name or visitor_cookie)", opt)
		}
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	return nil
}

func parseProtect(d *caddyfile.Dispenser, c *ProtectConfig) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		if opt == "under_attack" {
			if err := parseUnderAttack(d, &c.UnderAttack); err != nil {
				return err
			}
			continue
		}
		if !d.NextArg() {
			return d.Errf("protect %s: expected a value", opt)
		}
		val := d.Val()
		switch opt {
		case "backend_max_inflight", "site_max_inflight", "queue_length":
			n, err := strconv.Atoi(val)
			if err != nil {
				return d.Errf("protect %s: %q is not a whole number of requests (0 = no cap)", opt, val)
			}
			switch opt {
			case "backend_max_inflight":
				c.BackendMaxInflight = n
			case "site_max_inflight":
				c.SiteMaxInflight = n
			default:
				c.QueueLength = n
			}
		case "max_wait":
			dur, err := caddy.ParseDuration(val)
			if err != nil {
				return d.Errf("protect max_wait: %q is not a duration (expected e.g. 2s)", val)
			}
			c.MaxWait = caddy.Duration(dur)
		default:
			return d.Errf("unknown protect option %q (expected backend_max_inflight, site_max_inflight, queue_length, max_wait or under_attack)", opt)
		}
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	return nil
}

func parseUnderAttack(d *caddyfile.Dispenser, u *UnderAttackConfig) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		if !d.NextArg() {
			return d.Errf("under_attack %s: expected a value", opt)
		}
		val := d.Val()
		switch opt {
		case "rate":
			u.Rate = val
		case "latency", "on_after", "off_after":
			dur, err := caddy.ParseDuration(val)
			if err != nil {
				return d.Errf("under_attack %s: %q is not a duration (expected e.g. 3s)", opt, val)
			}
			switch opt {
			case "latency":
				u.Latency = caddy.Duration(dur)
			case "on_after":
				u.OnAfter = caddy.Duration(dur)
			default:
				u.OffAfter = caddy.Duration(dur)
			}
		case "error_share", "saturation":
			f, err := strconv.ParseFloat(val, 64)
			if err != nil {
				return d.Errf("under_attack %s: %q is not a number (expected a share between 0 and 1 such as 0.5)", opt, val)
			}
			if opt == "error_share" {
				u.ErrorShare = f
			} else {
				u.Saturation = f
			}
		case "latency_factor":
			f, err := strconv.ParseFloat(val, 64)
			if err != nil {
				return d.Errf("under_attack latency_factor: %q is not a number (expected a multiple of the healthy latency above 1 such as 3)", val)
			}
			u.LatencyFactor = f // range checked by Valid, for JSON and Caddyfile alike
		case "challenge_level":
			u.ChallengeLevel = val
		default:
			return d.Errf("unknown under_attack option %q (expected rate, latency, latency_factor, error_share, saturation, challenge_level, on_after or off_after)", opt)
		}
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	return nil
}
