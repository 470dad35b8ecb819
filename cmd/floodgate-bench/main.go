// Command floodgate-bench is the "shared host under attack" benchmark of issue 6. It stands
// up, all on loopback, a shared backend of limited capacity hosting many sites, floodgate
// (built from this tree) or plain Caddy in front of it, and a traffic generator with humans,
// AI crawlers, stealth scrapers, a POST burst and a verified search engine; then reports, per
// arm, what humans got and who used the backend. A second scenario measures floodgate's
// overhead next to plain Caddy.
//
//	go run ./cmd/floodgate-bench -scenario attack -out bench-results/
//	go run ./cmd/floodgate-bench -scenario overhead -out bench-results/
//
// See cmd/floodgate-bench/README.md.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/floodgate-proxy/floodgate/cmd/floodgate-bench/internal/harness"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "floodgate-bench:", err)
		os.Exit(1)
	}
}

// run is main without the process: the smoke test calls it.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 1 && args[0] == harness.FloodWorkerFlag {
		// The matrix's flood in a process of its own (-flood-process).
		return harness.ServeFlood(ctx, os.Stdin, stdout)
	}
	fs := flag.NewFlagSet("floodgate-bench", flag.ContinueOnError)
	fs.SetOutput(stdout)
	def := harness.DefaultScenario()
	ov := harness.DefaultOverheadOptions()
	var (
		scenario    = fs.String("scenario", "attack", "attack, overhead or matrix")
		out         = fs.String("out", "bench-results", "directory for the reports (created)")
		bin         = fs.String("floodgate-bin", "", "use this floodgate binary instead of building ./cmd/floodgate from this tree")
		arms        = fs.String("arms", "plain,floodgate", "attack: arms to run, in order")
		rules       = fs.String("rules", "shipped", "floodgate arm: rule files, comma-separated (\"shipped\" = built-in)")
		globalExtra = fs.String("floodgate-options", "", "floodgate arm: Caddyfile lines added inside the floodgate global option (@FILE reads them from FILE)")
		siteExtra   = fs.String("site-directives", "", "floodgate arm: Caddyfile lines added to the site block before reverse_proxy (@FILE reads them from FILE)")
		seed        = fs.Uint64("seed", def.Seed, "attack: random seed (same seed, same traffic)")
		sites       = fs.Int("sites", def.Sites, "attack: member sites on the backend")
		attacked    = fs.Int("attacked-sites", def.AttackedSites, "attack: how many of them the flood targets")
		workers     = fs.Int("workers", def.Pool.Workers, "attack: backend workers")
		queue       = fs.Int("queue", def.Pool.Queue, "attack: backend queue length")
		queueWait   = fs.Duration("queue-timeout", def.Pool.QueueTimeout, "attack: longest wait for a backend worker (then 504)")
		dynCost     = fs.Duration("dynamic-cost", def.Pool.DynamicCost, "attack: worker time of a page or POST")
		staticCost  = fs.Duration("static-cost", def.Pool.StaticCost, "attack: worker time of a static file")
		calm        = fs.Duration("calm", def.Calm, "attack: calm phase length")
		flood       = fs.Duration("flood", def.Flood, "attack: flood phase length")
		factor      = fs.Float64("flood-factor", def.FloodFactor, "attack: flood rate as a multiple of the backend's capacity")
		mix         = fs.String("mix", fmt.Sprintf("%g,%g,%g", def.Mix.AI, def.Mix.Stealth, def.Mix.Post), "attack: shares of AI crawlers, stealth scrapers, POST burst in the flood")
		humanLoad   = fs.Float64("human-load", def.HumanLoad, "attack: share of backend worker time humans use")
		think       = fs.Duration("think", def.ThinkTime, "attack: humans' mean think time")
		searchRate  = fs.Float64("search-rate", def.SearchRate, "attack: Googlebot requests per second")
		concurrency = fs.Int("concurrency", ov.Concurrency, "overhead: concurrent connections of the load generator")
		duration    = fs.Duration("duration", ov.Duration, "overhead: length of one measurement")
		repeats     = fs.Int("repeats", ov.Repeats, "overhead: interleaved repeats per arm")
		warmup      = fs.Duration("warmup", ov.Warmup, "overhead: load sent to each proxy before measuring")
		noRedis     = fs.Bool("no-redis", false, "overhead: skip the Redis-store arm")
		callgrind   = fs.Int("callgrind", 0, "overhead: also count each arm's instructions per request under valgrind's callgrind, over windows of this many requests (0: off; 2000 takes a few minutes)")
		render      = fs.String("render", "", "only re-render the markdown and SVG of an existing attack.json or overhead.json into -out")
		cells       = fs.String("cells", "", "matrix: cells to run, comma-separated (default: all; -list-cells names them)")
		quick       = fs.Bool("quick", false, "matrix: a few cells (unless -cells), 3s calm + 5s flood (unless -calm/-flood): a quick look, not figures")
		listCells   = fs.Bool("list-cells", false, "matrix: list the cells and exit")
		caddyfile   = fs.String("caddyfile", "", "matrix: the shipped Caddyfile the floodgate arm runs (default: Caddyfile.example of this repository)")
		note        = fs.String("note", "", "matrix: a line added to the report (e.g. which main it ran on)")
		history     = fs.Bool("history", true, "matrix: regulars' jars start with the visitor cookie of their visits on earlier days (false: empty)")
		floodNice   = fs.Int("flood-nice", 0, "matrix: start the flood process under nice -n N, both arms (a measurement of the attacker's CPU contending with the proxy on this host; not a default)")
		proxyEnv    = fs.String("proxy-env", "", "matrix: KEY=VALUE pairs, comma-separated, added to every proxy's environment (GOGC=200, say; a measurement)")
		floodProc   = fs.Bool("flood-process", true, "matrix: the flood's clients run in a process of their own, as an attacker's CPU is not the host's (false: in the harness process, with the backend and the people's clients)")
	)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil // -h printed the usage: asking for help is not an error
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q (flags only; see -h)", fs.Args())
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	if *render != "" {
		return rerender(*render, *out, stdout)
	}
	if *listCells {
		for _, c := range harness.MatrixCells() {
			fmt.Fprintf(stdout, "%-26s %2d × %-6v %-34s %-12s %s\n", c.Name, c.Workers, c.Page, c.LoadLabel(), c.Mix, c.Why)
		}
		return nil
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, v := range []*string{globalExtra, siteExtra} {
		if strings.HasPrefix(*v, "@") {
			b, err := os.ReadFile((*v)[1:])
			if err != nil {
				return fmt.Errorf("reading Caddyfile lines: %w", err)
			}
			*v = string(b)
		}
	}
	work, err := os.MkdirTemp("", "floodgate-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	logDir := filepath.Join(*out, "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return err
	}

	tree := "binary " + *bin
	if *bin == "" {
		tree = treeVersion(ctx)
		*bin = filepath.Join(work, "floodgate")
		fmt.Fprintf(stdout, "building floodgate from this tree into %s\n", *bin)
		if err := buildFloodgate(ctx, *bin); err != nil {
			return err
		}
	}
	command := "go run ./cmd/floodgate-bench " + shellWords(args)

	switch *scenario {
	case "attack":
		sc := def
		sc.Seed, sc.Sites, sc.AttackedSites = *seed, *sites, *attacked
		sc.Pool.Workers, sc.Pool.Queue, sc.Pool.QueueTimeout = *workers, *queue, *queueWait
		sc.Pool.DynamicCost, sc.Pool.StaticCost = *dynCost, *staticCost
		sc.Calm, sc.Flood, sc.FloodFactor, sc.HumanLoad, sc.ThinkTime, sc.SearchRate = *calm, *flood, *factor, *humanLoad, *think, *searchRate
		if _, err := fmt.Sscanf(*mix, "%g,%g,%g", &sc.Mix.AI, &sc.Mix.Stealth, &sc.Mix.Post); err != nil {
			return fmt.Errorf("-mix %q: expected three shares such as 0.45,0.45,0.1: %v", *mix, err)
		}
		o := harness.AttackOptions{
			Bin: *bin, Dir: logDir, Scenario: sc, Arms: splitList(*arms), Rules: splitList(*rules),
			GlobalExtra: *globalExtra, SiteExtra: *siteExtra, Run: harness.DefaultRunConfig(""), Bucket: 2 * time.Second, Log: stdout,
		}
		rep, err := harness.RunAttack(ctx, o)
		if err != nil {
			return err
		}
		rep.Command, rep.Tree = command, tree
		return writeReports(*out, "attack", rep, rep.Markdown(), rep.SVG(), stdout)
	case "matrix":
		names := splitList(*cells)
		if len(names) == 0 && *quick {
			names = harness.QuickCells
		}
		sel, err := harness.SelectCells(harness.MatrixCells(), names)
		if err != nil {
			return err
		}
		mc, mf := 10*time.Second, 20*time.Second
		if *quick {
			mc, mf = 3*time.Second, 5*time.Second
		}
		if set["calm"] {
			mc = *calm
		}
		if set["flood"] {
			mf = *flood
		}
		path := *caddyfile
		if path == "" {
			root, err := moduleRoot(ctx)
			if err != nil {
				return fmt.Errorf("%v (or pass -caddyfile)", err)
			}
			path = filepath.Join(root, "Caddyfile.example")
		}
		shipped, err := harness.ReadShipped(path)
		if err != nil {
			return err
		}
		partial := func(r *harness.MatrixReport) {
			r.Command, r.Tree, r.Note = command, tree, *note
			_ = harness.WriteJSON(filepath.Join(*out, "matrix.json"), r)
			_ = os.WriteFile(filepath.Join(*out, "matrix.md"), []byte(r.Markdown()), 0o644)
		}
		floodBin := ""
		if *floodProc {
			if floodBin, err = os.Executable(); err != nil {
				return fmt.Errorf("-flood-process: %w", err)
			}
		}
		rep, err := harness.RunMatrix(ctx, harness.MatrixOptions{Bin: *bin, Dir: logDir, Shipped: shipped, Cells: sel, Seed: *seed,
			Calm: mc, Flood: mf, Run: harness.DefaultRunConfig(""), Log: stdout, AfterCell: partial, History: *history, FloodBin: floodBin,
			FloodNice: *floodNice, ProxyEnv: splitList(*proxyEnv)})
		if err != nil {
			return err
		}
		rep.Command, rep.Tree, rep.Note = command, tree, *note
		return writeReports(*out, "matrix", rep, rep.Markdown(), "", stdout)
	case "overhead":
		ov.Bin, ov.Dir, ov.Concurrency, ov.Duration, ov.Warmup, ov.Repeats, ov.Redis, ov.Log = *bin, logDir, *concurrency, *duration, *warmup, *repeats, !*noRedis, stdout
		ov.Callgrind = *callgrind
		ov.Rules = splitList(*rules)
		rep, err := harness.RunOverhead(ctx, ov)
		if err != nil {
			return err
		}
		rep.Command, rep.Tree = command, tree
		return writeReports(*out, "overhead", rep, rep.Markdown(), rep.SVG(), stdout)
	default:
		return fmt.Errorf("-scenario %q: expected attack, overhead or matrix", *scenario)
	}
}

// moduleRoot is the directory of the module the current directory is in.
func moduleRoot(ctx context.Context) (string, error) {
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w (is the go command on PATH?)", err)
	}
	if g := strings.TrimSpace(string(gomod)); g == "" || g == os.DevNull {
		return "", errors.New("not inside the floodgate module: run floodgate-bench from the repository")
	}
	return filepath.Dir(strings.TrimSpace(string(gomod))), nil
}

// buildFloodgate builds ./cmd/floodgate of the module the current directory is in.
func buildFloodgate(ctx context.Context, out string) error {
	root, err := moduleRoot(ctx)
	if err != nil {
		return fmt.Errorf("%v, or pass -floodgate-bin", err)
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/floodgate")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building floodgate in %s: %v\n%s\n(pass -floodgate-bin to use a binary built elsewhere)", root, err, b)
	}
	return nil
}

func writeReports(dir, name string, rep any, md, svg string, stdout io.Writer) error {
	files := map[string]func(string) error{
		name + ".json": func(p string) error { return harness.WriteJSON(p, rep) },
		name + ".md":   func(p string) error { return os.WriteFile(p, []byte(md), 0o644) },
		name + ".svg":  func(p string) error { return os.WriteFile(p, []byte(svg), 0o644) },
	}
	for _, f := range []string{name + ".json", name + ".md", name + ".svg"} {
		if strings.HasSuffix(f, ".svg") && svg == "" {
			continue
		}
		p := filepath.Join(dir, f)
		if err := files[f](p); err != nil {
			return fmt.Errorf("writing %s: %w", p, err)
		}
	}
	fmt.Fprintf(stdout, "\n%s\nreports: %s/%s.{json,md,svg}\n", md, dir, name)
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// rerender writes the markdown and SVG of a JSON report again (after a change to the charts,
// say) without running anything.
func rerender(path, out string, stdout io.Writer) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var head struct {
		Scenario string `json:"scenario"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	switch head.Scenario {
	case "attack":
		var r harness.AttackReport
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		return writeReports(out, "attack", &r, r.Markdown(), r.SVG(), stdout)
	case "overhead":
		var r harness.OverheadReport
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		return writeReports(out, "overhead", &r, r.Markdown(), r.SVG(), stdout)
	default:
		return fmt.Errorf("%s: scenario %q, expected a floodgate-bench report (attack or overhead)", path, head.Scenario)
	}
}

// treeVersion names the source being built: the git commit, with "-dirty" when the working
// tree has uncommitted changes (other work in progress is then part of the measurement).
func treeVersion(ctx context.Context) string {
	head, err := exec.CommandContext(ctx, "git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown tree (not a git checkout)"
	}
	v := "commit " + strings.TrimSpace(string(head))
	if st, err := exec.CommandContext(ctx, "git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(bytes.TrimSpace(st)) > 0 {
		v += "-dirty"
	}
	return v
}

// shellWords writes args as a shell reads them back: a word with spaces, quotes, newlines or
// other special characters goes in single quotes (a multi-line -floodgate-options stays one
// argument when the Reproduce line is pasted).
func shellWords(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a != "" && strings.IndexFunc(a, func(r rune) bool {
			return !(r == '-' || r == '_' || r == '.' || r == '/' || r == '=' || r == ',' || r == ':' || r == '@' || r == '+' ||
				'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9')
		}) < 0 {
			out[i] = a
			continue
		}
		out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(out, " ")
}
