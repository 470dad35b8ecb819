package harness

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// MatrixOptions configure RunMatrix.
type MatrixOptions struct {
	// Bin is the floodgate binary (plain Caddy is the same binary without floodgate).
	Bin string
	// Dir receives the filled-in Caddyfiles, the ASN database, the proxies' logs and Redis.
	Dir string
	// Shipped is the text of the shipped Caddyfile (Caddyfile.example).
	Shipped string
	// Cells are the scenarios to run, in order.
	Cells []Cell
	// Seed drives the traffic.
	Seed uint64
	// Calm and Flood are every cell's phase lengths.
	Calm time.Duration
	// Flood is the flood phase's length.
	Flood time.Duration
	// Run bounds the load generator; its targets are filled per arm.
	Run RunConfig
	// Log receives progress lines.
	Log io.Writer
	// History gives the regulars' jars, before their first request, the visitor cookie of
	// their visits on earlier days (VisitorHistory), signed with the pass key the floodgate
	// arm is given. Off: their jars start empty, and what they hold in the flood is what the
	// proxy set in the calm phase.
	History bool
	// AfterCell, when set, is called with the report so far after each cell (to write
	// partial results a long run does not lose).
	AfterCell func(*MatrixReport)
	// FloodBin, when set, runs each arm's flood in a process of its own: this binary (the
	// bench's own), started with FloodWorkerFlag (see floodproc.go). Empty: the flood's
	// clients run in the harness process with the backend and the people's clients.
	FloodBin string
	// FloodNice, when not 0, starts the flood process under `nice -n FloodNice` (both arms):
	// a measurement of how much of people's time is the attacker's CPU contending with the
	// proxy on this host's cores, which a real attacker's is not. Not a default.
	FloodNice int
	// ProxyEnv is added to every arm's proxy environment (GOGC=200, say), for measurements.
	ProxyEnv []string
}

// RunMatrix runs every cell, both arms (plain Caddy, then floodgate as shipped), each arm
// against a fresh backend and fresh proxies, and returns the report.
func RunMatrix(ctx context.Context, o MatrixOptions) (*MatrixReport, error) {
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Shipped == "" {
		return nil, errors.New("matrix: no shipped Caddyfile")
	}
	asndb := filepath.Join(o.Dir, "bench-asn.mmdb")
	if err := WriteASNDB(asndb, Networks); err != nil {
		return nil, err
	}
	rep := &MatrixReport{Scenario: "matrix", Started: time.Now(), Machine: ThisMachine(), Seed: o.Seed, Calm: o.Calm, Flood: o.Flood, History: o.History, FloodProcess: o.FloodBin != ""}
	per := o.Calm + o.Flood + 5*time.Second
	fmt.Fprintf(o.Log, "matrix: %d cells × 2 arms × %v ≈ %v\n", len(o.Cells), per, time.Duration(len(o.Cells)*2)*per)
	for _, c := range o.Cells {
		sc := c.Scenario(o.Seed, o.Calm, o.Flood)
		sched, err := sc.Build()
		if err != nil {
			return nil, fmt.Errorf("cell %s: %w", c.Name, err)
		}
		cr := CellReport{Cell: c, Config: sc, CapacityRPS: round2(sc.Pool.Capacity())}
		for _, arm := range []string{ArmPlain, ArmFloodgate} {
			if ctx.Err() != nil {
				return nil, errors.New("interrupted")
			}
			load := ThisMachine().Load1
			ar, err := runCellArm(ctx, o, c, sc, sched, arm, asndb)
			if err != nil {
				return nil, fmt.Errorf("cell %s, %s: %w", c.Name, arm, err)
			}
			checks := CheckArm(c, &ar)
			if arm == ArmFloodgate && len(cr.Arms) > 0 {
				checks = append(checks, CheckCalm(&cr.Arms[0].ArmReport, &ar))
			}
			cr.Arms = append(cr.Arms, CellArm{ArmReport: ar, Checks: checks, Load1: load})
			fmt.Fprintf(o.Log, "  %s %s: %s\n", c.Name, arm, checksLine(cr.Arms[len(cr.Arms)-1].Checks))
			time.Sleep(time.Second) // let the arm's sockets close
		}
		rep.Cells = append(rep.Cells, cr)
		if o.AfterCell != nil {
			rep.Summarize()
			o.AfterCell(rep)
		}
	}
	rep.Summarize()
	return rep, nil
}

// runCellArm runs one arm of one cell.
func runCellArm(ctx context.Context, o MatrixOptions, c Cell, sc Scenario, sched *Schedule, arm, asndb string) (ArmReport, error) {
	backend, upstream, stopBackend, err := startPool(sc.Pool)
	if err != nil {
		return ArmReport{}, err
	}
	defer stopBackend()

	set := ShippedSettings{"FLOODGATE_UPSTREAM": upstream, "FLOODGATE_TRUSTED_PROXIES": "127.0.0.1/32", "FLOODGATE_ASN_DB": asndb}
	rc := o.Run
	if arm == ArmFloodgate && (c.Proxies > 1 || o.History) {
		// Proxies sharing sites share a pass key; history cookies are signed with it.
		key := make([]byte, 32)
		_, _ = rand.Read(key)
		set["FLOODGATE_PASS_KEY"] = base64.StdEncoding.EncodeToString(key)
		if o.History {
			h, err := NewVisitorHistory(key)
			if err != nil {
				return ArmReport{}, err
			}
			rc.History = h.Cookie
		}
	}
	if c.Proxies > 1 && arm == ArmFloodgate {
		r, err := StartRedis(filepath.Join(o.Dir, "redis-"+c.Name))
		if err != nil {
			return ArmReport{}, err
		}
		defer r.Stop()
		set["FLOODGATE_REDIS"] = r.URL()
	}
	var proxies []*Proxy
	var accessLogs []string
	defer func() {
		for _, p := range proxies {
			_ = p.Stop()
		}
		for _, l := range accessLogs {
			trimAccessLog(l)
		}
	}()
	var targets, admins []string
	for k := range max(c.Proxies, 1) {
		listen, admin, err := freeListenAdmin()
		if err != nil {
			return ArmReport{}, err
		}
		_, port, _ := net.SplitHostPort(listen)
		set["FLOODGATE_LISTEN"], set["FLOODGATE_ADMIN"] = ":"+port, admin
		name := c.Name + "-" + arm
		if c.Proxies > 1 {
			name += fmt.Sprint(k + 1)
		}
		if strings.Contains(o.Shipped, "{$FLOODGATE_ACCESS_LOG") {
			// The shipped file writes its access log to a file (default: the current
			// folder); each proxy gets its own beside its other logs, cut after the arm.
			accessLog := filepath.Join(o.Dir, name+".access.log")
			set["FLOODGATE_ACCESS_LOG"] = accessLog
			accessLogs = append(accessLogs, accessLog)
		}
		cf, err := FillShipped(o.Shipped, set)
		if err == nil && arm == ArmPlain {
			cf, err = WithoutFloodgate(cf)
		}
		if err != nil {
			return ArmReport{}, err
		}
		p, err := StartProxy(ctx, ProxyConfig{Name: name, Bin: o.Bin, Dir: o.Dir, Listen: listen, Admin: admin, Upstream: upstream, Raw: cf, LogCap: 1 << 20, Env: o.ProxyEnv})
		if err != nil {
			return ArmReport{}, err
		}
		proxies = append(proxies, p)
		targets = append(targets, listen)
		admins = append(admins, admin)
	}
	rc.Target, rc.Targets = targets[0], targets
	var watched func() []AdmissionPoint
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	if arm == ArmFloodgate {
		watched = WatchAdmission(watchCtx, admins, time.Now(), 500*time.Millisecond)
	}
	pids := make([]int, len(proxies))
	for i, p := range proxies {
		pids[i] = p.PID()
	}
	var flood *FloodProcess
	if o.FloodBin != "" {
		// The flood's own process starts first; both count time from the same zero.
		rc.Part, rc.Start = WithoutFlood, time.Now().Add(time.Second)
		flood, err = StartFloodProcess(o.FloodBin, FloodSpec{Scenario: sc, Targets: rc.Targets, MaxInFlight: rc.MaxInFlight,
			MaxClosedRequests: rc.MaxClosedRequests, AttackTimeout: rc.AttackTimeout, Start: rc.Start},
			filepath.Join(o.Dir, c.Name+"-"+arm+".flood.log"), o.FloodNice)
		if err != nil {
			return ArmReport{}, err
		}
		defer flood.Kill()
	}
	start := time.Now()
	if !rc.Start.IsZero() {
		start = rc.Start
	}
	cpu := watchCPU(watchCtx, pids, flood, start.Add(sc.Calm), sc.Flood)
	res, err := Run(ctx, sc, sched, rc)
	stopWatch()
	if err != nil {
		return ArmReport{}, err
	}
	if flood != nil {
		fs, err := flood.Wait()
		if err != nil {
			return ArmReport{}, err
		}
		res.Samples = append(res.Samples, fs...)
	}
	if ctx.Err() != nil {
		return ArmReport{}, errors.New("interrupted")
	}
	ar := BuildArmReport(arm, sc, res, backend.Stats(), 2*time.Second)
	ar.CPU = cpu()
	if watched != nil {
		ar.AdmissionTimeline = watched()
		if ls, ok := SummarizeLimit(ar.AdmissionTimeline, sc.Calm); ok {
			ar.Limit = &ls
		}
	}
	if arm == ArmFloodgate {
		for _, p := range proxies {
			lines, err := p.Metrics("floodgate_")
			if err != nil {
				fmt.Fprintf(o.Log, "  %s: %v\n", p.Config.Name, err)
			}
			for _, m := range ParseMetricLines(lines) {
				switch {
				case m.Name == "floodgate_requests_total":
					ar.Floodgate = append(ar.Floodgate, m)
				case strings.HasPrefix(m.Name, "floodgate_admission"):
					ar.Admission = append(ar.Admission, m)
				}
			}
		}
	}
	floodStart := float64(res.Start.Add(sc.Calm).UnixNano()) / 1e9
	for _, p := range proxies {
		l := p.Log()
		if l == nil {
			continue
		}
		ar.UnderAttack += l.Count("site under attack")
		if ts, ok := l.First("site under attack"); ok {
			d := round2(ts - floodStart)
			if ar.FirstSwitch == nil || d < *ar.FirstSwitch {
				ar.FirstSwitch = &d
			}
		}
	}
	return ar, nil
}

// trimAccessLog keeps the first megabyte of an arm's access log and removes its rolled
// files: a flood writes hundreds of megabytes of them.
func trimAccessLog(path string) {
	if st, err := os.Stat(path); err == nil && st.Size() > 1<<20 {
		_ = os.Truncate(path, 1<<20)
	}
	rolled, _ := filepath.Glob(strings.TrimSuffix(path, ".log") + "-*")
	for _, f := range rolled {
		_ = os.Remove(f)
	}
}

// ReadShipped reads the shipped Caddyfile at path.
func ReadShipped(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading the shipped Caddyfile: %w", err)
	}
	return string(b), nil
}

// watchCPU measures the CPU time of the proxies (pids) and of this process from at to
// at+d, and returns a function that gives it, in cores, once the run is over (nil when it
// could not be measured: the run ended early, /proc unreadable).
func watchCPU(ctx context.Context, pids []int, flood *FloodProcess, at time.Time, d time.Duration) func() *CPUSplit {
	done := make(chan *CPUSplit, 1)
	read := func() (proxy, self, fl time.Duration, ok bool) {
		for _, pid := range pids {
			c, err := procCPU(pid)
			if err != nil {
				return 0, 0, 0, false
			}
			proxy += c
		}
		if flood != nil {
			var err error
			if fl, err = procCPU(flood.PID()); err != nil {
				return 0, 0, 0, false
			}
		}
		self, err := procCPU(os.Getpid())
		return proxy, self, fl, err == nil
	}
	go func() {
		defer close(done)
		if !sleepUntil(ctx, at, 0) {
			return
		}
		p0, s0, f0, ok := read()
		t0 := time.Now()
		if !ok || !sleepUntil(ctx, at, d) {
			return
		}
		p1, s1, f1, ok := read()
		secs := time.Since(t0).Seconds()
		if ok && secs > 0 {
			done <- &CPUSplit{Proxy: round2((p1 - p0).Seconds() / secs), Harness: round2((s1 - s0).Seconds() / secs), Flood: round2((f1 - f0).Seconds() / secs)}
		}
	}()
	return func() *CPUSplit { return <-done }
}
