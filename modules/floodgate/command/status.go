package command

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/floodgate-proxy/floodgate/internal/hoststatus"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "status",
		Usage: "[--address <admin>] [--watch] [--every 2s]",
		Short: "Shows the host now: sites under attack or quarantined, requests per second, admission, store",
		Long: `
'status' asks a running floodgate, through Caddy's admin endpoint, what is happening now: the
sites under attack or quarantined and since when, the requests per second over the last minute
by class and by action, the backend's admission limit and what it is shedding, and whether the
counter store (Redis) is reachable. --watch refreshes it until interrupted.

  floodgate status
  floodgate status --address localhost:2019 --watch`,
		CobraFunc: func(cmd *cobra.Command) {
			var address string
			var watch bool
			var every time.Duration
			cmd.Flags().StringVar(&address, "address", "localhost:2019", "the running floodgate's admin endpoint")
			cmd.Flags().BoolVar(&watch, "watch", false, "refresh until interrupted")
			cmd.Flags().DurationVar(&every, "every", 2*time.Second, "with --watch: how often")
			cmd.RunE = func(c *cobra.Command, _ []string) error {
				out := c.OutOrStdout()
				if !watch {
					if err := printStatus(out, address); err != nil {
						fmt.Fprintln(c.ErrOrStderr(), "status:", err)
						os.Exit(1)
					}
					return nil
				}
				stop := make(chan os.Signal, 1)
				signal.Notify(stop, os.Interrupt)
				tick := time.NewTicker(every)
				defer tick.Stop()
				for {
					var b strings.Builder
					if err := printStatus(&b, address); err != nil {
						fmt.Fprintf(&b, "status: %v\n", err)
					}
					fmt.Fprint(out, "\033[H\033[2J"+b.String()+fmt.Sprintf("\n(refreshing every %s; Ctrl-C to stop)\n", every))
					select {
					case <-stop:
						return nil
					case <-tick.C:
					}
				}
			}
		},
	})
}

// getJSON fetches an admin endpoint's JSON; found is false on 404 (an endpoint this
// floodgate does not have).
func getJSON(address, path string, v any) (found bool, err error) {
	resp, err := caddycmd.AdminAPIRequest(address, http.MethodGet, path, nil, nil)
	if err != nil {
		if strings.Contains(err.Error(), "HTTP 404") {
			return false, nil
		}
		return false, fmt.Errorf("%s%s: %s", address, path, adminErrorText(err))
	}
	defer resp.Body.Close()
	return true, json.NewDecoder(resp.Body).Decode(v)
}

// printStatus writes the host's status for a terminal.
func printStatus(w io.Writer, address string) error {
	var st hoststatus.Status
	if _, err := getJSON(address, "/floodgate/status", &st); err != nil {
		return err
	}
	fmt.Fprintf(w, "floodgate at %s, %s\n\n", address, st.Now.Local().Format("2006-01-02 15:04:05 MST"))
	fmt.Fprintf(w, "Sites under attack:")
	if len(st.UnderAttack) == 0 {
		fmt.Fprintln(w, " none")
	} else {
		fmt.Fprintln(w)
		for _, s := range st.UnderAttack {
			how := "automatic"
			if s.ByHand {
				how = "set by hand"
			}
			fmt.Fprintf(w, "  %-30s since %s (%s ago, %s)\n", s.Site, s.Since.Local().Format("15:04:05"), st.Now.Sub(s.Since).Round(time.Second), how)
		}
	}
	fmt.Fprintf(w, "Sites quarantined:")
	if len(st.Quarantined) == 0 {
		fmt.Fprintln(w, " none")
	} else {
		fmt.Fprintln(w)
		for _, q := range st.Quarantined {
			fmt.Fprintf(w, "  %-30s since %s, until %s: %s\n", q.Site, q.Since.Local().Format("15:04:05"), q.Until.Local().Format("15:04:05"), q.Reason)
		}
	}
	fmt.Fprintf(w, "\nRequests per second, last %s:\n", st.PerSecond.Window)
	writeRates(w, "by action", st.PerSecond.ByAction, []string{"pass", "allow", "log", "delay", "challenge", "throttle", "block"})
	writeRates(w, "by class", st.PerSecond.ByClass, nil)
	// Admission (adaptive backend limit): reported by its own endpoint when this floodgate
	// has it.
	var adm map[string]any
	found, err := getJSON(address, "/floodgate/admission", &adm)
	fmt.Fprintf(w, "\nAdmission:")
	switch {
	case err != nil:
		fmt.Fprintf(w, " %v\n", err)
	case !found:
		fmt.Fprintln(w, " not reported by this floodgate (no /floodgate/admission endpoint)")
	default:
		fmt.Fprintln(w)
		for _, k := range slices.Sorted(func(yield func(string) bool) {
			for k := range adm {
				if !yield(k) {
					return
				}
			}
		}) {
			if k == "sites" {
				continue
			}
			v, _ := json.Marshal(adm[k])
			fmt.Fprintf(w, "  %-16s %s\n", k, v)
		}
	}
	store := "memory (this process)"
	if st.Store.Shared {
		store = "Redis: reachable"
		if !st.Store.Healthy {
			store = "Redis: UNREACHABLE — counting locally until it is back"
		}
	}
	fmt.Fprintf(w, "\nCounter store: %s\n", store)
	return nil
}

func writeRates(w io.Writer, title string, m map[string]float64, order []string) {
	keys := order
	if keys == nil {
		for k := range m {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b string) int {
			if m[a] != m[b] {
				if m[a] > m[b] {
					return -1
				}
				return 1
			}
			return strings.Compare(a, b)
		})
	}
	fmt.Fprintf(w, "  %s:", title)
	any := false
	for _, k := range keys {
		if v := m[k]; v > 0 {
			fmt.Fprintf(w, "  %s %.1f", k, v)
			any = true
		}
	}
	if !any {
		fmt.Fprint(w, "  none")
	}
	fmt.Fprintln(w)
}
