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
//		prefix        24 64
//		store         memory|<redis URL> {
//			mode          batched|exact
//			sync_interval 100ms
//			timeout       50ms
//			key_prefix    fg:
//			max_keys      1000000
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
			if len(args) != 2 {
				return nil, d.Errf("prefix: expected two lengths, IPv4 then IPv6, such as: prefix 24 64")
			}
			var err error
			if app.PrefixV4, err = strconv.Atoi(args[0]); err != nil {
				return nil, d.Errf("prefix: IPv4 length %q is not a number", args[0])
			}
			if app.PrefixV6, err = strconv.Atoi(args[1]); err != nil {
				return nil, d.Errf("prefix: IPv6 length %q is not a number", args[1])
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
		default:
			return nil, d.Errf("unknown floodgate option %q (expected rules, asn_db, prefix, store or shadow)", d.Val())
		}
	}
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
			if err != nil || dur <= 0 {
				return d.Errf("store %s: %q is not a positive duration (expected e.g. 100ms)", opt, val)
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
			if err != nil || n <= 0 {
				return d.Errf("store max_keys: %q is not a positive number", val)
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
		default:
			return nil, h.Errf("unknown floodgate subdirective %q (expected shadow)", h.Val())
		}
	}
	return fh, nil
}
