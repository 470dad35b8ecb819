package redistest

import (
	"strings"
	"testing"
)

func TestStartStopRestart(t *testing.T) {
	s := Start(t)
	if got, err := command(s.Addr, "SET", "k", "v"); err != nil || got != "OK" {
		t.Fatalf("SET on fresh server: %q %v, want OK", got, err)
	}
	s.Stop()
	if _, err := command(s.Addr, "PING"); err == nil {
		t.Fatalf("PING after Stop succeeded, want a connection error")
	}
	s.Stop() // idempotent
	s.Restart()
	if got, err := command(s.Addr, "PING"); err != nil || got != "PONG" {
		t.Fatalf("PING after Restart: %q %v, want PONG", got, err)
	}
	if got, err := command(s.Addr, "GET", "k"); err == nil && got == "v" {
		t.Fatalf("GET after Restart returned the old value; persistence should be off")
	}
}

func TestStartCluster(t *testing.T) {
	addrs := StartCluster(t, 3)
	if len(addrs) != 3 {
		t.Fatalf("StartCluster(3) returned %d addresses", len(addrs))
	}
	for _, a := range addrs {
		info, err := command(a, "CLUSTER", "INFO")
		if err != nil || !strings.Contains(info, "cluster_known_nodes:3") {
			t.Fatalf("node %s: CLUSTER INFO %q %v, want 3 known nodes", a, info, err)
		}
	}
}

func TestStartSentinel(t *testing.T) {
	m := Start(t)
	s := StartSentinel(t, "mymaster", m.Addr)
	got, err := command(s.Addr, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster")
	if err != nil || strings.ReplaceAll(got, "\n", ":") != m.Addr {
		t.Fatalf("sentinel reports master %q (%v), want %s", got, err, m.Addr)
	}
}
