package admission

import (
	"fmt"
	"testing"
	"time"
)

// A calm day on a small backend (8 workers × 50 ms, issue 11's), people at a fifth of its
// capacity whose browsers fetch each page's five assets at once (a millisecond of a worker
// each, the matrix benchmark's static files): the requests in flight reach 13 to 15, a
// page or two of them pages. What calm traffic used (Limit.used) is the floor of every cut
// the knee makes, so counted in requests it held a flood of pages at 12 to 16 on these 8
// workers (the matrix at 81bdf86, all-open-30x-4w200: a limit of 13 on 4 workers all
// through the flood, sites not attacked 1.28× calm). Counted in pages, it stays within the
// workers: the static files hold their slots (AcquireStatic) but are not pages.
func TestStaticFilesAreNotCalmUse(t *testing.T) {
	const workers = 8
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprintf("seed %d", seed), func(t *testing.T) {
			s := newCtlSim(workers, 50*time.Millisecond)
			people := simFlow{TierReturning, "p.test", 32, 0, true, 5} // 1.6 pages in flight
			res := s.run(20*time.Second, 10*seed, people)
			used := s.c.backend.used
			t.Logf("calm: used %v, limit %d, people %d of %d at once", used, s.c.Stats().Limit, res.atOnce[0], res.sent[0])
			if used == 0 {
				t.Fatal("no calm use learned: the test shows nothing")
			}
			if used > workers {
				t.Errorf("calm use %v on %d workers at a fifth of their capacity: static files counted as pages", used, workers)
			}
		})
	}
}
