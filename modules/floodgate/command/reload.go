package command

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
)

// plainReloadErrors makes `floodgate reload` print a refused configuration's problems as
// `floodgate rules check` does — one "file:line: problem" per line — instead of Caddy's
// one-line log of the admin API's JSON answer, where every quote and line break comes out
// escaped. Caddy registers `reload` itself, so the command is adjusted once cobra has built
// the command tree: any is one of floodgate's own commands, to find the root from.
func plainReloadErrors(any *cobra.Command) {
	cobra.OnInitialize(func() {
		for _, c := range any.Root().Commands() {
			if c.Name() == "reload" && c.Flags().Lookup("config") != nil && c.Flags().Lookup("address") != nil {
				c.RunE = reload
			}
		}
	})
}

// reload is Caddy's `reload` (same flags, same request to the admin API's /load), printing
// a refusal in plain text and exiting with status 1.
func reload(c *cobra.Command, _ []string) error {
	flag := func(name string) string { v, _ := c.Flags().GetString(name); return v }
	config, configFile, adapter, err := caddycmd.LoadConfig(flag("config"), flag("adapter"))
	if err != nil {
		return err
	}
	if configFile == "" {
		return fmt.Errorf("no config file to load (give one with --config)")
	}
	admin, err := caddycmd.DetermineAdminAPIAddress(flag("address"), config, configFile, flag("adapter"))
	if err != nil {
		return fmt.Errorf("couldn't determine admin API address: %v", err)
	}
	headers := make(http.Header)
	if force, _ := c.Flags().GetBool("force"); force {
		headers.Set("Cache-Control", "must-revalidate")
	}
	headers.Set("Caddy-Config-Source-File", configFile)
	headers.Set("Caddy-Config-Source-Adapter", adapter)
	resp, err := caddycmd.AdminAPIRequest(admin, http.MethodPost, "/load", headers, bytes.NewReader(config))
	if err != nil {
		fmt.Fprintf(c.ErrOrStderr(), "floodgate reload: %s was not loaded:\n%s\n", configFile, adminErrorText(err))
		os.Exit(1)
	}
	_ = resp.Body.Close()
	return nil
}

// adminErrorText takes the message out of Caddy's "caddy responded with error: HTTP 400:
// {"error":"…"}" so that its line breaks and quotes read as written.
func adminErrorText(err error) string {
	msg := err.Error()
	i := strings.Index(msg, "{")
	if !strings.HasPrefix(msg, "caddy responded with error: HTTP ") || i < 0 {
		return msg
	}
	var body struct {
		Error string `json:"error"`
	}
	if json.Unmarshal([]byte(msg[i:]), &body) != nil || body.Error == "" {
		return msg
	}
	return strings.TrimRight(body.Error, "\n")
}
