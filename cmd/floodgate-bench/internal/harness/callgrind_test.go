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

func TestCallgrindMarkdown(t *testing.T) {
	r := &OverheadReport{Options: DefaultOverheadOptions(), Arms: []OverheadArm{{Name: ArmFloodgateMemory, CPURatio: 1.2}}}
	if md := r.callgrindMarkdown(); md != "" {
		t.Errorf("no callgrind arms: %q, want nothing", md)
	}
	r.Options.Callgrind = 1000
	// 1,000 requests of 100,000 instructions each over 2 s, and a background of 50,000/s:
	// net 100,000 - 100 = 99,900 a request.
	w := CallgrindWindow{Requests: 1000, Instructions: 100_000_000, Seconds: 2, IdlePerSecond: 50_000}
	if got := w.net(); got != 99_900 {
		t.Fatalf("net = %v, want 99900", got)
	}
	r.Callgrind = []CallgrindArm{
		{Name: ArmPlain, Windows: []CallgrindWindow{w}, Net: 99_900},
		{Name: ArmFloodgateMemory, Windows: []CallgrindWindow{w, w}, Net: 99_900, Ratio: 1.0123, Spread: 0.0042},
	}
	md := r.callgrindMarkdown()
	for _, want := range []string{"| floodgate-memory | 99900 | 99900 / 99900 | 0.42% | 1.012 | 1.200 |", "| plain | 99900 | 99900 | 0.00% |  |  |"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}
