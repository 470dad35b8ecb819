package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestCommittedFileIsCurrent checks that test-asn.mmdb is what the
// generator writes now. testdata is skipped by ./... patterns: run it as
// go test ./testdata/mmdb/gen
func TestCommittedFileIsCurrent(t *testing.T) {
	out := filepath.Join(t.TempDir(), "test-asn.mmdb")
	if err := write(out); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile(filepath.Join("..", "test-asn.mmdb"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, committed) {
		t.Error("testdata/mmdb/test-asn.mmdb is stale: run go run ./testdata/mmdb/gen from the repository root")
	}
}
