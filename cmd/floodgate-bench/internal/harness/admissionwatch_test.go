package harness

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestSummarizeLimit(t *testing.T) {
	var pts []AdmissionPoint
	for i := range 40 {
		at := float64(i) / 2 // 0 .. 19.5 s
		limit := 8
		if at >= 10 {
			limit = 3 + i%2 // the flood: 3 and 4
		}
		pts = append(pts, AdmissionPoint{At: at, Limit: limit, BaselineMs: 20}, AdmissionPoint{At: at, Proxy: 1, Limit: 99})
	}
	pts = append(pts, AdmissionPoint{At: 1, Limit: 1}) // first half of calm: not counted
	got, ok := SummarizeLimit(pts, 10*time.Second)
	if !ok || got.Calm != 8 || got.Flood != 3.5 || got.FloodMin != 3 || got.BaselineMs != 20 {
		t.Errorf("SummarizeLimit = %+v, %v; want calm 8, flood 3.5, least 3, baseline 20 (first proxy only)", got, ok)
	}
	if _, ok := SummarizeLimit(pts[:10], 10*time.Second); ok {
		t.Error("a run without flood points has a summary")
	}
}

// WatchAdmission reads the proxy's admission endpoint until stopped; an endpoint that is not
// there gives nothing.
func TestWatchAdmission(t *testing.T) {
	var hits atomic.Int64
	third := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/floodgate/admission" {
			http.NotFound(w, r)
			return
		}
		n := hits.Add(1)
		fmt.Fprintf(w, `{"limit":%d,"baseline_ms":21.5,"inflight":3,"waiting":7,"waiting_by_tier":{"browser":7},"sites":2}`, 5+n)
		if n == 3 {
			close(third)
		}
	}))
	defer srv.Close()
	missing := httptest.NewServer(http.NotFoundHandler())
	defer missing.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := WatchAdmission(ctx, []string{strings.TrimPrefix(srv.URL, "http://"), strings.TrimPrefix(missing.URL, "http://")}, time.Now(), 5*time.Millisecond)
	<-third
	cancel()
	pts := done()
	if len(pts) < 2 {
		t.Fatalf("%d points after 3 reads, want at least the first 2", len(pts))
	}
	for i, p := range pts {
		if p.Proxy != 0 || p.Limit != 6+i || p.BaselineMs != 21.5 || p.Inflight != 3 || p.Waiting != 7 {
			t.Errorf("point %d = %+v, want limit %d from the first proxy", i, p, 6+i)
		}
	}
}
