package harness

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
)

// TestParseCallgrindIr reads a real callgrind dump: floodgate's binary as plain Caddy, under
// valgrind-3.19 callgrind, counters zeroed then dumped after 10 s without a request
// (callgrind_control -z, -d).
func TestParseCallgrindIr(t *testing.T) {
	b, err := os.ReadFile("testdata/callgrind.out.caddy-idle")
	if err != nil {
		t.Fatal(err)
	}
	got, err := parseCallgrindIr(bytes.NewReader(b))
	if err != nil || got != 2361 {
		t.Fatalf("parseCallgrindIr(real dump) = %d, %v; want 2361 (its totals line)", got, err)
	}
	// Callgrind writes the totals line last: a dump caught half-written has none.
	cut := b[:bytes.Index(b, []byte("\ntotals:"))]
	if _, err := parseCallgrindIr(bytes.NewReader(cut)); !errors.Is(err, errNoCallgrindTotals) {
		t.Errorf("half-written dump: err %v, want errNoCallgrindTotals", err)
	}
}

func TestParseCallgrindIrEvents(t *testing.T) {
	tests := []struct {
		name, in string
		want     uint64
		ok       bool
	}{
		{"Ir second of several events", "events: Dr Ir Dw\nfn=main\n3 1 2 3\ntotals: 70 5000 9\n", 5000, true},
		{"summary only is not the end", "events: Ir\nsummary: 10\n", 0, false},
		{"no Ir event", "events: Dr\ntotals: 10\n", 0, false},
		{"totals short of Ir", "events: Dr Ir\ntotals: 10\n", 0, false},
		{"not a number", "events: Ir\ntotals: many\n", 0, false},
	}
	for _, tt := range tests {
		got, err := parseCallgrindIr(strings.NewReader(tt.in))
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("%s: got %d, %v; want %d, ok %v", tt.name, got, err, tt.want, tt.ok)
		}
	}
}
