package main

import (
	"fmt"
	"io"
	"os"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/floodgate-proxy/floodgate/rules"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "rules",
		Usage: "check <file|folder|shipped>... | export <folder>",
		Short: "Checks floodgate rule files, or exports the shipped ones",
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
			cmd.AddCommand(&cobra.Command{
				Use:   "export <folder>",
				Short: "Writes the shipped rule files and their ranges into a folder, to edit or refresh them",
				Long: `'rules export' writes the rule files and address ranges built into floodgate into a new
folder. Edit them, refresh the range files from their sources (see rules/README.md), check them
with 'floodgate rules check <folder>', and load them with 'rules <folder>' in the floodgate
global option instead of 'rules shipped'. It never overwrites a file.`,
				Args: cobra.ExactArgs(1),
				RunE: func(c *cobra.Command, args []string) error {
					written, err := rulefiles.Export(args[0])
					if err != nil {
						fmt.Fprintln(c.ErrOrStderr(), err)
						os.Exit(1)
					}
					fmt.Fprintf(c.OutOrStdout(), "wrote %d files into %s\n", len(written), args[0])
					return nil
				},
			})
		},
	})
}

// checkRules loads files like floodgate would and reports; it returns the exit code.
func checkRules(stdout, stderr io.Writer, files []string) int {
	set, err := rulefiles.Load(files...)
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
