package challenge

import (
	"net/http/httptest"

	"github.com/redis/go-redis/v9"
	"github.com/ulule/limiter/v3"
	"testing"
	"time"

	"github.com/floodgate-proxy/floodgate/internal/pass"
	"github.com/floodgate-proxy/floodgate/internal/redistest"
	"github.com/floodgate-proxy/floodgate/internal/store"
)

// TestAnswerIsSingleUseInTheStore: the same c/a posted three times, a second apart as a
// replayer would, passes once, whether answers are kept in memory or in the counter store the
// proxies share (issue 10: the store's key period followed what was left of the challenge, so
// every post started a fresh counter and all three passed).
func TestAnswerIsSingleUseInTheStore(t *testing.T) {
	srv := redistest.Start(t)
	stores := map[string]SeenSet{
		"memory seen-set": NewMemorySeen(16),
		"memory store":    StoreSeen{Store: store.NewMemory(0)},
		"redis store":     StoreSeen{Store: exactStore(t, srv.Addr)},
	}
	for name, seen := range stores {
		t.Run(name, func(t *testing.T) {
			clock := setNow(t, time.Now())
			c := newTestChallenger(t, Config{Difficulty: 8, Seen: seen})
			w := httptest.NewRecorder()
			if err := c.Serve(w, get("https://example.org/"), pass.LevelWork, prefixA); err != nil {
				t.Fatal(err)
			}
			s := readPage(t, w.Body.String())
			answer := s.solve(t)
			for i, want := range []bool{true, false, false} {
				*clock = clock.Add(time.Second)
				out := c.HandleVerify(httptest.NewRecorder(), post(c, s.challenge, answer, "/"), prefixA)
				if out.Passed != want || out.SeenErr != nil {
					t.Fatalf("post %d: %+v, want passed=%v", i+1, out, want)
				}
				if !want && out.Reason != ReasonReplayed {
					t.Fatalf("post %d refused for %q, want %q", i+1, out.Reason, ReasonReplayed)
				}
			}
		})
	}
}

func exactStore(t *testing.T, addr string) limiter.Store {
	c := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { c.Close() })
	st, err := store.NewExact(c, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	return st
}
