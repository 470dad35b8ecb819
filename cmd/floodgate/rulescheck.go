package main

import (
	"fmt"
	"io"
	"os"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	shipped "github.com/floodgate-proxy/floodgate/rules"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "rules",
		Usage: "check <file|shipped>...",
		Short: "Checks floodgate rule files",
		Long: `
'rules check' reads the rule files named, in the order floodgate would load them, and prints
every problem as "file:line: what is wrong, what was expected". The word "shipped" stands for
the rule files built into floodgate. It exits 0 when the files are good, 1 otherwise.`,
		CobraFunc: func(cmd *cobra.Command) {
			check := &cobra.Command{
				Use:   "check <file|shipped>...",
				Short: "Checks rule files and prints file:line: problem for each problem",
				Args:  cobra.MinimumNArgs(1),
				RunE: func(c *cobra.Command, args []string) error {
					if code := checkRules(c.OutOrStdout(), c.ErrOrStderr(), args); code != 0 {
						os.Exit(code)
					}
					return nil
				},
			}
			cmd.AddCommand(check)
		},
	})
}

// checkRules loads files like floodgate would and reports; it returns the exit code.
func checkRules(stdout, stderr io.Writer, files []string) int {
	set, err := shipped.Load(files...)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	identity, policy, budgets := 0, 0, 0
	for _, r := range set.Rules {
		if r.IsIdentity() {
			identity++
		} else {
			policy++
		}
		budgets += len(r.Budgets)
	}
	fmt.Fprintf(stdout, "ok: %d files, %d identity rules, %d policy rules, %d budgets\n", len(set.Files), identity, policy, budgets)
	return 0
}
