package floodgate

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// TestConfigFixtures: every config in testdata/config/good is valid; every one in bad is
// refused from JSON (the app's Valid, and a real Caddy loading it) and from the Caddyfile
// (name.caddyfile) with the same message (name.err). Issue 10: error_share 5, saturation -1,
// queue_length -5, on_after -3s and max_keys -1 loaded from JSON.
func TestConfigFixtures(t *testing.T) {
	dir := filepath.Join("..", "..", "testdata", "config")
	good, _ := filepath.Glob(filepath.Join(dir, "good", "*.json"))
	bad, _ := filepath.Glob(filepath.Join(dir, "bad", "*.json"))
	if len(good) == 0 || len(bad) < 5 {
		t.Fatalf("fixtures missing: %d good, %d bad", len(good), len(bad))
	}
	for _, path := range good {
		t.Run("good/"+filepath.Base(path), func(t *testing.T) {
			app := readAppJSON(t, path)
			if err := app.Valid(); err != nil {
				t.Fatalf("Valid: %v", err)
			}
		})
	}
	for _, path := range bad {
		base := strings.TrimSuffix(path, ".json")
		t.Run("bad/"+filepath.Base(path), func(t *testing.T) {
			want := strings.TrimSpace(string(mustRead(t, base+".err")))
			app := readAppJSON(t, path)
			if err := app.Valid(); err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("JSON: Valid() = %v, want an error containing %q", err, want)
			}
			_, err := parseGlobalOption(caddyfile.NewTestDispenser(string(mustRead(t, base+".caddyfile"))), nil)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("Caddyfile: %v, want an error containing %q", err, want)
			}
		})
	}
}

// TestCaddyRefusesBadJSONConfig: a real Caddy loading a JSON config with a bad floodgate
// setting refuses it with the message, before anything is published.
func TestCaddyRefusesBadJSONConfig(t *testing.T) {
	for _, name := range []string{"error_share", "saturation", "queue_length", "on_after", "max_keys"} {
		app := mustRead(t, filepath.Join("..", "..", "testdata", "config", "bad", name+".json"))
		want := strings.TrimSpace(string(mustRead(t, filepath.Join("..", "..", "testdata", "config", "bad", name+".err"))))
		cfg := []byte(`{"admin":{"disabled":true},"apps":{"floodgate":` + string(bytes.TrimSpace(app)) + `}}`)
		err := caddy.Load(cfg, true)
		if err == nil {
			_ = caddy.Stop()
			t.Fatalf("%s: Caddy loaded %s", name, cfg)
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error containing %q", name, err, want)
		}
	}
}

func readAppJSON(t *testing.T, path string) *App {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(mustRead(t, path)))
	dec.DisallowUnknownFields()
	app := new(App)
	if err := dec.Decode(app); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return app
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
