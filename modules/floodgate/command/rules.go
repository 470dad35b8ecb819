// Package command holds floodgate's subcommands of the caddy (or floodgate) binary: rules
// check|export, classify, replay, explain and status, and the plain-text messages of a refused
// reload. They register themselves in init, so any Caddy built with floodgate's module has them.
package command

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
the rule files built into floodgate. It exits 0 when the files are good, 1 otherwise. What
loads but deserves a look (networks skipped from range files, more path rules than their
documented cost) is printed as "warning: ..." on stderr, with exit status 0.`,
		CobraFunc: func(cmd *cobra.Command) {
			plainReloadErrors(cmd)
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
global option instead of 'rules shipped'. It never overwrites a file: files already in the
folder are kept and listed, only the missing ones are written.`,
				Args: cobra.ExactArgs(1),
				RunE: func(c *cobra.Command, args []string) error {
					written, skipped, err := rulefiles.Export(args[0])
					if err != nil {
						fmt.Fprintln(c.ErrOrStderr(), err)
						os.Exit(1)
					}
					fmt.Fprintf(c.OutOrStdout(), "wrote %s into %s\n", files(len(written)), args[0])
					if len(skipped) > 0 {
						fmt.Fprintf(c.OutOrStdout(), "kept %s already there (never overwritten; delete one to get the shipped version):\n", files(len(skipped)))
						for _, f := range skipped {
							fmt.Fprintln(c.OutOrStdout(), "  "+f)
						}
					}
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
	for _, w := range set.Warnings {
		fmt.Fprintln(stderr, "warning: "+w)
	}
	return 0
}

// files says "1 file", "2 files".
func files(n int) string {
	if n == 1 {
		return "1 file"
	}
	return fmt.Sprintf("%d files", n)
}
