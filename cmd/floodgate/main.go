// Command floodgate is Caddy with its standard modules and floodgate's: `floodgate run`,
// `floodgate reload`, `floodgate version` and every other Caddy command work as in Caddy,
// and floodgate's own serve techs: `floodgate rules check|export`, `classify`, `replay`,
// `explain` and `status` (registered by modules/floodgate, so a Caddy built with xcaddy has
// them too). This main only names the binary and its version.
package main

import (
	"runtime/debug"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/floodgate-proxy/floodgate/modules/floodgate"
)

// version is floodgate's version, set at build time:
//
//	go build -ldflags '-X main.version=v0.3.0' ./cmd/floodgate
var version = ""

func main() {
	// `floodgate help` and every command's usage name the binary floodgate, not caddy.
	caddy.CustomBinaryName = "floodgate"
	// Caddy's full version line appends its own version to this: "floodgate v0.3.0 on Caddy
	// v2.11.9 h1:…", Caddy named once.
	caddy.CustomVersion = floodgateVersion() + " on Caddy"
	caddycmd.Main()
}

// floodgateVersion names floodgate's version: the one set at build time, else the module's
// (with the commit it was built from, when known).
func floodgateVersion() string {
	v := version
	if v == "" {
		v = "devel"
		if bi, ok := debug.ReadBuildInfo(); ok {
			if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
				v = bi.Main.Version
			}
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" && len(s.Value) >= 12 {
					v += "+" + s.Value[:12]
				}
			}
		}
	}
	return "floodgate " + v
}
