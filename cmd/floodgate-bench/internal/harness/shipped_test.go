package harness

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// shippedFile is the repository's Caddyfile.example: the matrix runs it, so the test reads
// the real one (it is part of this repository, not shared data).
func shippedFile(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "..", "Caddyfile.example"))
	if err != nil {
		t.Fatalf("reading the shipped Caddyfile: %v", err)
	}
	return string(b)
}

func TestFillShipped(t *testing.T) {
	src := shippedFile(t)
	set := ShippedSettings{"FLOODGATE_LISTEN": ":18080", "FLOODGATE_UPSTREAM": "127.0.0.1:18081", "FLOODGATE_ADMIN": "127.0.0.1:18082",
		"FLOODGATE_TRUSTED_PROXIES": "127.0.0.1/32", "FLOODGATE_ASN_DB": "/tmp/x.mmdb"}
	got, err := FillShipped(src, set)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(got, "{$") {
		t.Errorf("placeholders left:\n%s", got)
	}
	for _, want := range []string{"http://:18080 {", "reverse_proxy 127.0.0.1:18081", "admin 127.0.0.1:18082", "asn_db /tmp/x.mmdb", "store memory", "\tdefault_bind 127.0.0.1"} {
		if !strings.Contains(got, want) {
			t.Errorf("filled Caddyfile lacks %q", want)
		}
	}
	// Nothing else changes: removing the added line and putting the placeholders' text back
	// by their defaults gives the shipped file with only the settings' values changed.
	if n := strings.Count(got, "\n") - strings.Count(src, "\n"); n != 1 {
		t.Errorf("filled Caddyfile has %d more lines than shipped, want 1 (default_bind)", n)
	}
	if _, err := FillShipped(src, ShippedSettings{"FLOODGATE_NO_SUCH_SETTING": "x"}); err == nil || !strings.Contains(err.Error(), "FLOODGATE_NO_SUCH_SETTING") {
		t.Errorf("unknown setting: %v, want an error naming it", err)
	}
	if _, err := FillShipped("http://:80 {\n}\n", nil); err == nil {
		t.Error("a Caddyfile without global options was accepted")
	}
}

func TestWithoutFloodgate(t *testing.T) {
	filled, err := FillShipped(shippedFile(t), ShippedSettings{"FLOODGATE_UPSTREAM": "127.0.0.1:18081"})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := WithoutFloodgate(filled)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(plain, "\n") {
		code, _, _ := strings.Cut(l, "#")
		if strings.Contains(code, "floodgate") || strings.Contains(code, "protect") || strings.Contains(code, "challenge") {
			t.Errorf("plain Caddyfile keeps floodgate configuration: %q", l)
		}
	}
	for _, want := range []string{"reverse_proxy 127.0.0.1:18081", "\tmetrics", "\tlog", "trusted_proxies static", "handle_errors 429 {"} {
		if !strings.Contains(plain, want) {
			t.Errorf("plain Caddyfile lost %q:\n%s", want, plain)
		}
	}
	if strings.Count(plain, "{") != strings.Count(plain, "}") {
		t.Errorf("unbalanced braces:\n%s", plain)
	}
	for _, bad := range []string{"{\n\tfloodgate {\n}\n", "{\n}\n"} {
		if _, err := WithoutFloodgate(bad); err == nil {
			t.Errorf("WithoutFloodgate(%q) accepted it", bad)
		}
	}
}

func TestCappedLog(t *testing.T) {
	var out bytes.Buffer
	c := NewCappedLog(&out, 100)
	access := `{"level":"info","logger":"http.log.access.log0","msg":"handled request"}` + "\n"
	for range 10 {
		_, _ = c.Write([]byte(access))
	}
	// A line split across writes is one line.
	_, _ = c.Write([]byte(`{"level":"warn","msg":"site under attack: challenging`))
	_, _ = c.Write([]byte(` clients","site":"site00.example.org"}` + "\n"))
	seen, dropped := c.AccessLines()
	if seen != 10 || dropped != 9 {
		t.Errorf("access lines seen %d, dropped %d; want 10 and 9 (one fits in 100 bytes)", seen, dropped)
	}
	if c.Count("site under attack") != 1 {
		t.Errorf("under-attack lines = %d, want 1", c.Count("site under attack"))
	}
	_, _ = c.Write([]byte(`{"level":"warn","ts":1795943999.25,"msg":"site under attack: again"}` + "\n"))
	if ts, ok := c.First("site under attack"); ok || ts != 0 {
		t.Errorf("first under-attack line had no time, First = %v, %v; want none", ts, ok)
	}
	c2 := NewCappedLog(io.Discard, 100)
	_, _ = c2.Write([]byte(`{"level":"warn","ts":1795943999.25,"msg":"site under attack: x"}` + "\n" + `{"ts":1795944000,"msg":"site under attack: y"}` + "\n"))
	if ts, ok := c2.First("site under attack"); !ok || ts != 1795943999.25 || c2.Count("site under attack") != 2 {
		t.Errorf("First = %v, %v, count %d; want the first line's ts and 2 lines", ts, ok, c2.Count("site under attack"))
	}
	if !strings.Contains(out.String(), "site under attack: challenging clients") || strings.Count(out.String(), "handled request") != 1 {
		t.Errorf("written:\n%s", out.String())
	}
}
