package floodgate

import (
	"context"
	"testing"
	"time"

	"github.com/floodgate-proxy/floodgate/internal/store"
)

// TestStoreSeenIsSingleUse: answers kept in the counter store are accepted once, as the
// proof-of-work answers must be across every proxy sharing the store.
func TestStoreSeenIsSingleUse(t *testing.T) {
	s := storeSeen{store.NewMemory(0)}
	ctx := context.Background()
	for i, want := range []bool{true, false, false} {
		first, err := s.FirstUse(ctx, "answer-1", 10*time.Minute)
		if err != nil || first != want {
			t.Fatalf("use %d of answer-1: first=%v err=%v, want %v", i+1, first, err, want)
		}
	}
	if first, _ := s.FirstUse(ctx, "answer-2", 10*time.Minute); !first {
		t.Fatal("another answer was taken for a replay")
	}
}

func TestDecodeKey(t *testing.T) {
	for in, ok := range map[string]bool{
		"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldC0xMjM0":           true,
		"736563726574736563726574736563726574736563726574736563726574aa": true,
		"not a key!": false,
	} {
		if _, err := decodeKey(in); (err == nil) != ok {
			t.Errorf("decodeKey(%q): %v", in, err)
		}
	}
}
