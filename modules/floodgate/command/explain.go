package command

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/floodgate-proxy/floodgate/internal/classify"
	"github.com/floodgate-proxy/floodgate/internal/explain"
	"github.com/floodgate-proxy/floodgate/internal/network"
	"github.com/floodgate-proxy/floodgate/internal/store"
	"github.com/floodgate-proxy/floodgate/internal/verdict"
	"github.com/floodgate-proxy/floodgate/rules"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "explain",
		Usage: "[--address <admin>] | [--rules <file|shipped>...] [--asn-db <file.mmdb>]  [--ip A --ua UA --host H --method M --path P --query Q --status S]",
		Short: "Says why floodgate does what it does to one request",
		Long: `
'explain' takes one request — from flags, or one JSON line on standard input in the form
'floodgate classify' reads ({"ip":…,"ua":…,"host":…,"method":…,"path":…,"query":…,"status":…}) —
and prints every rule of the rule files in order, whether it matched and, if not, which
condition failed; the decision step by step with every budget and its count; and the action
with its reason. The decision is floodgate's own code.

With --address, it asks the running floodgate through Caddy's admin endpoint: its rules, its
live counters, its quarantines and sites under attack (the request counts as one hit in its
budgets, like any request). Without, it decides offline with the rule files given and fresh
counters.

  floodgate explain --address localhost:2019 --ip 66.249.66.1 --ua 'Mozilla/5.0 (compatible; Googlebot/2.1)' --host shop.example.org
  echo '{"ip":"20.0.0.1","ua":"GPTBot/1.2","host":"shop.example.org","path":"/"}' | floodgate explain --rules shipped /etc/floodgate/local.yaml`,
		CobraFunc: func(cmd *cobra.Command) {
			var in explain.Input
			var ruleFiles []string
			var asnDB, address string
			cmd.Flags().StringVar(&in.IP, "ip", "", "client address")
			cmd.Flags().StringVar(&in.UA, "ua", "", "User-Agent")
			cmd.Flags().StringVar(&in.Host, "host", "", "host (site)")
			cmd.Flags().StringVar(&in.Method, "method", "GET", "HTTP method")
			cmd.Flags().StringVar(&in.Path, "path", "/", "path (a ?query is split off)")
			cmd.Flags().StringVar(&in.Query, "query", "", "raw query string")
			cmd.Flags().IntVar(&in.Status, "status", 0, "the response's status, for rules that count responses")
			cmd.Flags().StringVar(&address, "address", "", "a running floodgate's admin endpoint (e.g. localhost:2019): explain with its live counters")
			cmd.Flags().StringSliceVar(&ruleFiles, "rules", []string{rulefiles.Shipped}, "offline: rule files, in load order")
			cmd.Flags().StringVar(&asnDB, "asn-db", "", "offline: MaxMind-format ASN database (.mmdb)")
			cmd.RunE = func(c *cobra.Command, _ []string) error {
				fail := func(err error) error {
					fmt.Fprintln(c.ErrOrStderr(), "explain:", err)
					os.Exit(1)
					return nil
				}
				if !c.Flags().Changed("ip") && !c.Flags().Changed("ua") {
					line, err := bufio.NewReader(os.Stdin).ReadString('\n')
					if strings.TrimSpace(line) == "" {
						return fail(fmt.Errorf("give the request with --ip and --ua (and --host, --path…), or as one JSON line on standard input (%v)", err))
					}
					dec := json.NewDecoder(strings.NewReader(line))
					dec.DisallowUnknownFields()
					if err := dec.Decode(&in); err != nil {
						return fail(fmt.Errorf("standard input: not a JSON object of ip, ua, host, method, path, query, status: %v", err))
					}
				}
				if address != "" {
					body, _ := json.Marshal(in)
					resp, err := caddycmd.AdminAPIRequest(address, http.MethodPost, "/floodgate/explain", nil, bytes.NewReader(body))
					if err != nil {
						return fail(fmt.Errorf("%s: %s", address, adminErrorText(err)))
					}
					defer resp.Body.Close()
					_, err = io.Copy(c.OutOrStdout(), resp.Body)
					return err
				}
				req, err := in.Request()
				if err != nil {
					return fail(err)
				}
				lens := network.PrefixLengths{}.WithDefaults()
				p, err := newClassifierParts(ruleFiles, asnDB, lens)
				if err != nil {
					return fail(err)
				}
				cl := classify.New(p.set, p.asn, lens)
				dec := verdict.New(store.NewMemory(0), verdict.Options{StoreTimeout: -1})
				e := explain.Explain(context.Background(), cl, dec, nil, req, in.Status, time.Now())
				return e.WriteText(c.OutOrStdout())
			}
		},
	})
}
