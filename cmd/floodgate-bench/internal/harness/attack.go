package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"time"
)

// Arm names.
const (
	// ArmPlain is plain Caddy reverse_proxy in front of the backend.
	ArmPlain = "plain"
	// ArmFloodgate is floodgate in front of the same backend.
	ArmFloodgate = "floodgate"
)

// AttackOptions configure RunAttack.
type AttackOptions struct {
	// Bin is the floodgate binary (also used, without the directive, as plain Caddy).
	Bin string
	// Dir receives the generated Caddyfiles, ASN database and proxy logs.
	Dir string
	// Scenario is the traffic.
	Scenario Scenario
	// Arms to run, in order ("plain", "floodgate").
	Arms []string
	// Rules are the floodgate arm's rule files (default: shipped).
	Rules []string
	// GlobalExtra and SiteExtra are added to the floodgate arm's Caddyfile.
	GlobalExtra string
	// SiteExtra is added to the floodgate arm's site block.
	SiteExtra string
	// Run bounds the load generator; Target is filled per arm.
	Run RunConfig
	// Bucket is the timeline's slice length.
	Bucket time.Duration
	// Log receives progress lines.
	Log io.Writer
}

// StartBackend serves b on a free loopback port and returns its address and a stop function.
func StartBackend(b http.Handler) (string, func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("backend: %w", err)
	}
	srv := &http.Server{Handler: b, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 60 * time.Second}
	go func() { _ = srv.Serve(l) }()
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}
	return l.Addr().String(), stop, nil
}

// startPool starts a fresh backend with pool cfg on a free loopback port.
func startPool(cfg PoolConfig) (*Backend, string, func(), error) {
	backend, err := NewBackend(cfg)
	if err != nil {
		return nil, "", nil, err
	}
	upstream, stop, err := StartBackend(backend)
	if err != nil {
		return nil, "", nil, err
	}
	return backend, upstream, stop, nil
}

// freeListenAdmin returns two free loopback addresses: a proxy's listener and its admin
// endpoint.
func freeListenAdmin() (listen, admin string, err error) {
	if listen, err = FreeLoopbackAddr(); err != nil {
		return "", "", err
	}
	admin, err = FreeLoopbackAddr()
	return listen, admin, err
}

// RunAttack runs the attack scenario once per arm, each against a fresh backend and proxy,
// with the same schedule, and returns the report.
func RunAttack(ctx context.Context, o AttackOptions) (*AttackReport, error) {
	if o.Log == nil {
		o.Log = io.Discard
	}
	sched, err := o.Scenario.Build()
	if err != nil {
		return nil, err
	}
	asndb := filepath.Join(o.Dir, "bench-asn.mmdb")
	if err := WriteASNDB(asndb, Networks); err != nil {
		return nil, err
	}
	rep := &AttackReport{
		Scenario:    "attack",
		Started:     time.Now(),
		Machine:     ThisMachine(),
		Config:      o.Scenario,
		CapacityRPS: round2(o.Scenario.Pool.Capacity()),
		FloodRPS:    round2(o.Scenario.FloodFactor * o.Scenario.Pool.Capacity()),
	}
	fmt.Fprintf(o.Log, "schedule: %d human sessions, %d open-loop requests; capacity %.0f pages/s, flood %.0f req/s\n",
		len(sched.Sessions), len(sched.Requests), rep.CapacityRPS, rep.FloodRPS)
	for i, arm := range o.Arms {
		if arm != ArmPlain && arm != ArmFloodgate {
			return nil, fmt.Errorf("arm %q: expected %q or %q", arm, ArmPlain, ArmFloodgate)
		}
		if i > 0 {
			time.Sleep(2 * time.Second) // let the previous arm's sockets close
		}
		ar, err := runArm(ctx, o, arm, sched, asndb)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(o.Log, "%s: humans calm %.2f%% ok p95 %.0f ms; flood %.2f%% ok p95 %.0f ms; backend busy %.0f%%\n", arm,
			100*ar.HumansCalm.SuccessRate, ar.HumansCalm.Latency.P95, 100*ar.HumansFlood.SuccessRate, ar.HumansFlood.Latency.P95, 100*ar.BackendBusy)
		rep.Arms = append(rep.Arms, ar)
	}
	rep.CheckTargets()
	return rep, nil
}

func runArm(ctx context.Context, o AttackOptions, arm string, sched *Schedule, asndb string) (ArmReport, error) {
	backend, upstream, stopBackend, err := startPool(o.Scenario.Pool)
	if err != nil {
		return ArmReport{}, err
	}
	defer stopBackend()
	listen, admin, err := freeListenAdmin()
	if err != nil {
		return ArmReport{}, err
	}
	pc := ProxyConfig{Name: arm, Bin: o.Bin, Dir: o.Dir, Listen: listen, Admin: admin, Upstream: upstream, Metrics: true}
	if arm == ArmFloodgate {
		pc.Floodgate, pc.Rules, pc.ASNDB, pc.Store = true, o.Rules, asndb, "memory"
		pc.GlobalExtra, pc.SiteExtra = o.GlobalExtra, o.SiteExtra
	}
	proxy, err := StartProxy(ctx, pc)
	if err != nil {
		return ArmReport{}, err
	}
	defer func() { _ = proxy.Stop() }()
	fmt.Fprintf(o.Log, "%s: proxy pid %d on %s, backend on %s; running %v\n", arm, proxy.PID(), listen, upstream, o.Scenario.Duration())

	rc := o.Run
	rc.Target = listen
	res, err := Run(ctx, o.Scenario, sched, rc)
	if err != nil {
		return ArmReport{}, fmt.Errorf("arm %s: %w", arm, err)
	}
	if ctx.Err() != nil {
		return ArmReport{}, errors.New("interrupted")
	}
	ar := BuildArmReport(arm, o.Scenario, res, backend.Stats(), o.Bucket)
	if arm == ArmFloodgate {
		lines, err := proxy.Metrics("floodgate_requests_total{")
		if err != nil {
			fmt.Fprintf(o.Log, "%s: %v\n", arm, err)
		}
		ar.Floodgate = ParseMetricLines(lines)
	}
	return ar, nil
}
