package challenge

import (
	"bytes"
	"testing"

	"github.com/floodgate-proxy/floodgate/internal/pass"
)

var testKey = bytes.Repeat([]byte("k"), 32)

// newTestChallenger returns a Challenger with a test key and cfg's other
// fields.
func newTestChallenger(t testing.TB, cfg Config) *Challenger {
	t.Helper()
	if cfg.Signer == nil {
		s, err := pass.NewSigner(testKey)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Signer = s
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
