package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestCommittedFileIsCurrent checks that test-asn.mmdb and
// test-asn-no-description.mmdb are what the generator writes now. testdata
// is skipped by ./... patterns: run it as go test ./testdata/mmdb/gen
func TestCommittedFileIsCurrent(t *testing.T) {
	for name, description := range map[string]bool{"test-asn.mmdb": true, "test-asn-no-description.mmdb": false} {
		out := filepath.Join(t.TempDir(), name)
		if err := write(out, description); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		committed, err := os.ReadFile(filepath.Join("..", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, committed) {
			t.Errorf("testdata/mmdb/%s is stale: run go run ./testdata/mmdb/gen from the repository root", name)
		}
	}
}
