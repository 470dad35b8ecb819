package network

import (
	"os"
	"path/filepath"
	"testing"
)

// sharedDataDir is where the test data copied from public projects lives (with its
// licences, see testdata/README.md), relative to this package's directory (go test runs in it).
var sharedDataDir = filepath.Join("..", "..", "testdata")

// sharedData returns the path of a file under the shared test data and
// fails the test clearly when it is missing.
func sharedData(tb testing.TB, rel ...string) string {
	tb.Helper()
	p := filepath.Join(append([]string{sharedDataDir}, rel...)...)
	if _, err := os.Stat(p); err != nil {
		abs, _ := filepath.Abs(sharedDataDir)
		tb.Fatalf("shared test data %s is missing (expected the test data folder at %s, i.e. ../../testdata from internal/network): %v", p, abs, err)
	}
	return p
}

// testASNPath is the generated test database, see testdata/mmdb/README.md.
var testASNPath = filepath.Join("..", "..", "testdata", "mmdb", "test-asn.mmdb")
