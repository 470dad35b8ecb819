package command

import (
	"fmt"
	"os"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/floodgate-proxy/floodgate/internal/network"
	"github.com/floodgate-proxy/floodgate/internal/replay"
	"github.com/floodgate-proxy/floodgate/internal/rules"
	shipped "github.com/floodgate-proxy/floodgate/rules"
)

// DefaultAttackRate is replay's default under-attack rate: the floodgate module's own default,
// which it sets here (package floodgate imports this package).
var DefaultAttackRate = "20/sec"

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "replay",
		Usage: "[--rules <file|shipped>...] [--compare <file|shipped>...] [--asn-db <file.mmdb>] [--html report.html] <access.log[.gz]>...",
		Short: "Plays access logs through floodgate's rules and says what it would have done",
		Long: `
'replay' reads access logs — Caddy's JSON access log or the Apache/nginx combined format, plain
or gzip, detected from the first line — and plays every request through floodgate's decision
(classify, count against the budgets, decide; quarantines and the under-attack mode included)
on a clock taken from the log's timestamps, with counters in memory. Nothing is sent anywhere.

It prints requests by action, class and rule; the bots, networks and clients that would have
been challenged, throttled or blocked; and the sites that would have gone under attack or into
quarantine, and when. --html writes a report with charts that opens in any browser, offline.
--compare plays the same log against a second rule set and shows what changes.

Combined logs name no host: their requests count for --host (default "site").

  floodgate replay /var/log/caddy/access.log
  floodgate replay --rules shipped /etc/floodgate/local.yaml --html report.html access.log.1.gz
  floodgate replay --compare shipped new-local.yaml -- access.log`,
		CobraFunc: func(cmd *cobra.Command) {
			var ruleFiles, compare []string
			var asnDB, html, host, attackRate string
			var top int
			var v4, v6 int
			cmd.Flags().StringSliceVar(&ruleFiles, "rules", []string{shipped.Shipped}, "rule files, in load order (\"shipped\" = the built-in ones)")
			cmd.Flags().StringSliceVar(&compare, "compare", nil, "a second rule set to compare with (rule files, in load order)")
			cmd.Flags().StringVar(&asnDB, "asn-db", "", "MaxMind-format ASN database (.mmdb); without it, the shipped hosting prefix lists")
			cmd.Flags().StringVar(&html, "html", "", "also write an HTML report with charts to this file")
			cmd.Flags().StringVar(&host, "host", "site", "host of requests in logs that name none (combined format)")
			cmd.Flags().StringVar(&attackRate, "attack-rate", DefaultAttackRate, "under_attack rate of every site (a site's attack_rate wins), or off")
			cmd.Flags().IntVar(&top, "top", 10, "how many bots, networks, clients and rules to list")
			cmd.Flags().IntVar(&v4, "prefix-v4", 24, "IPv4 network prefix length")
			cmd.Flags().IntVar(&v6, "prefix-v6", 64, "IPv6 network prefix length")
			cmd.Args = cobra.MinimumNArgs(1)
			cmd.RunE = func(c *cobra.Command, logs []string) error {
				fail := func(err error) error {
					fmt.Fprintln(c.ErrOrStderr(), "replay:", err)
					os.Exit(1)
					return nil
				}
				rate := 0.0
				if attackRate != "off" {
					r, err := rules.ParseRate(attackRate)
					if err != nil {
						return fail(fmt.Errorf("--attack-rate: %w", err))
					}
					rate = float64(r.Limit) / r.Period.Seconds()
				}
				lens := network.PrefixLengths{V4: v4, V6: v6}
				var cfgs []replay.Config
				for _, files := range [][]string{ruleFiles, compare} {
					if files == nil {
						continue
					}
					cl, err := newClassifierParts(files, asnDB, lens)
					if err != nil {
						return fail(err)
					}
					cfgs = append(cfgs, replay.Config{Rules: cl.set, ASN: cl.asn, Prefixes: lens, AttackRate: rate, DefaultHost: host})
				}
				res, err := replay.Run(logs, cfgs...)
				if err != nil {
					return fail(err)
				}
				out := c.OutOrStdout()
				for _, s := range res.FirstSkips {
					fmt.Fprintln(c.ErrOrStderr(), "skipped:", s)
				}
				if err := res.Summary.WriteText(out, top); err != nil {
					return fail(err)
				}
				if res.Compare != nil {
					fmt.Fprintln(out)
					if err := res.Compare.WriteText(out, res.Summary, top); err != nil {
						return fail(err)
					}
				}
				if html != "" {
					f, err := os.Create(html)
					if err != nil {
						return fail(err)
					}
					if err := replay.WriteHTML(f, res, top); err != nil {
						f.Close()
						return fail(err)
					}
					if err := f.Close(); err != nil {
						return fail(err)
					}
					fmt.Fprintf(out, "\nReport written to %s\n", html)
				}
				fmt.Fprintf(c.ErrOrStderr(), "replayed %d lines in %s (%.0f lines/s)\n", res.Lines, res.Elapsed.Round(1e6), float64(res.Lines)/res.Elapsed.Seconds())
				return nil
			}
		},
	})
}
