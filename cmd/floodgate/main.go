// Command floodgate is Caddy with its standard modules and floodgate's: `floodgate run`,
// `floodgate reload`, `floodgate version` and every other Caddy command work as in Caddy,
// and two more serve techs: `floodgate rules check` and `floodgate classify`.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/floodgate-proxy/floodgate/modules/floodgate"
)

func main() {
	caddycmd.Main()
}
