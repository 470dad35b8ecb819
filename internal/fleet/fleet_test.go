package fleet

import (
	"bytes"
	"context"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/floodgate-proxy/floodgate/internal/redistest"
	"github.com/floodgate-proxy/floodgate/internal/store"
)

func TestEntryEncoding(t *testing.T) {
	at := time.UnixMilli(1_800_000_000_123)
	e := Entry{Kind: KindQuarantine, Site: "shop.example", Value: "POST burst", Until: at.Add(time.Minute), At: at, By: "0123456789abcdef"}
	enc, err := e.encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := decode(enc)
	if err != nil || got.field() != e.field() || got.Value != e.Value || !got.Until.Equal(e.Until) || !got.At.Equal(e.At) || got.By != e.By {
		t.Fatalf("decode(encode(e)) = %+v, %v; want %+v", got, err, e)
	}
	later := e
	later.At = at.Add(time.Millisecond)
	if !later.newer(e) || e.newer(later) {
		t.Fatal("a later entry does not replace an earlier one")
	}
	tie := e
	tie.By = "fedcba9876543210"
	if !tie.newer(e) || e.newer(tie) {
		t.Fatal("ties are not broken by proxy id")
	}
	for _, bad := range []string{
		"",
		"garbage",
		enc[:orderLen],                    // no JSON
		strings.Replace(enc, "|", "x", 1), // no separator
		enc[:orderLen+1] + "{",            // broken JSON
		enc[:orderLen+1] + `{"k":"other","s":"a"}`, // unknown kind
		enc[:orderLen+1] + `{"k":"mode"}`,          // no site
	} {
		if _, err := decode(bad); err == nil {
			t.Errorf("decode(%q) succeeded, want an error", bad)
		}
	}
}

// changes records the entries a fleet was told about.
type changes struct {
	mu   sync.Mutex
	seen []Entry
}

func (c *changes) add(e Entry) { c.mu.Lock(); c.seen = append(c.seen, e); c.mu.Unlock() }
func (c *changes) len() int    { c.mu.Lock(); defer c.mu.Unlock(); return len(c.seen) }

func newFleet(t *testing.T, client redis.UniversalClient, opts Options, ch *changes) *Fleet {
	t.Helper()
	var on func(Entry)
	if ch != nil {
		on = ch.add
	}
	f := New(client, opts, nil, on)
	t.Cleanup(func() { _ = f.Close() })
	return f
}

func client(t *testing.T, url string) redis.UniversalClient {
	t.Helper()
	c, err := store.ParseRedisURL(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// eventually polls cond for up to d and reports how long it took.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

// propagation runs the fleet's contract between two proxies on url.
func propagation(t *testing.T, url string) {
	var seen changes
	a := newFleet(t, client(t, url), Options{}, nil)
	b := newFleet(t, client(t, url), Options{}, &seen)
	eventually(t, 5*time.Second, "both subscribed", func() bool { return a.Subscribed() && b.Subscribed() })
	now := time.Now()
	const site = "shop.example"

	a.SetQuarantine(site, now.Add(10*time.Minute), "POST burst")
	took := eventually(t, 2*time.Second, "quarantine reaches b", func() bool { _, ok := b.QuarantinedUntil(site, time.Now()); return ok })
	t.Logf("quarantine started on a seen by b after %v", took)
	if seen.len() == 0 {
		t.Fatal("b's change callback was not called")
	}
	a.LiftQuarantine(site)
	eventually(t, 2*time.Second, "lift reaches b", func() bool { _, ok := b.QuarantinedUntil(site, time.Now()); return !ok })

	b.SetMode(site, "on")
	eventually(t, 2*time.Second, "mode reaches a", func() bool { return a.Mode(site) == "on" })

	a.SetAttack("blog.example", true)
	eventually(t, 2*time.Second, "attack claim reaches b", func() bool { return b.UnderAttack("blog.example", time.Now()) })
	a.SetAttack("blog.example", false)
	eventually(t, 2*time.Second, "attack end reaches b", func() bool { return !b.UnderAttack("blog.example", time.Now()) })

	v := b.Snapshot(time.Now())
	if len(v.Sites) != 1 || v.Sites[0].Site != site || v.Sites[0].Mode != "on" || !v.Healthy {
		t.Fatalf("b's snapshot = %+v, want only %s in mode on", v, site)
	}
}

func TestFleetPropagates(t *testing.T) {
	propagation(t, "redis://"+redistest.Start(t).Addr)
}

func TestFleetPropagatesOnCluster(t *testing.T) {
	propagation(t, "redis+cluster://"+strings.Join(redistest.StartCluster(t, 3), ","))
}

func TestFleetPropagatesThroughSentinel(t *testing.T) {
	m := redistest.Start(t)
	s := redistest.StartSentinel(t, "mymaster", m.Addr)
	propagation(t, "redis+sentinel://"+s.Addr+"/mymaster")
}

// TestFleetLastWriterWins: two proxies set the same site's mode; both end
// on the later one, and so does a proxy that starts afterwards.
func TestFleetLastWriterWins(t *testing.T) {
	url := "redis://" + redistest.Start(t).Addr
	a := newFleet(t, client(t, url), Options{}, nil)
	b := newFleet(t, client(t, url), Options{}, nil)
	a.SetMode("x.example", "off")
	time.Sleep(5 * time.Millisecond)
	b.SetMode("x.example", "on")
	eventually(t, 2*time.Second, "a takes b's later mode", func() bool { return a.Mode("x.example") == "on" })
	if b.Mode("x.example") != "on" {
		t.Fatalf("b's own later mode was replaced by a's earlier one: %q", b.Mode("x.example"))
	}
	c := newFleet(t, client(t, url), Options{}, nil)
	eventually(t, 2*time.Second, "a new proxy reads the view", func() bool { return c.Mode("x.example") == "on" })
}

// TestFleetRedisDown: with Redis gone each proxy keeps its last view and
// its own changes; when Redis returns (empty), the views converge.
func TestFleetRedisDown(t *testing.T) {
	srv := redistest.Start(t)
	url := "redis://" + srv.Addr + "?dial_timeout=100ms&read_timeout=100ms&write_timeout=100ms"
	opts := Options{Resync: 100 * time.Millisecond}
	a := newFleet(t, client(t, url), opts, nil)
	b := newFleet(t, client(t, url), opts, nil)
	a.SetQuarantine("old.example", time.Now().Add(time.Hour), "before")
	eventually(t, 2*time.Second, "b sees the first quarantine", func() bool { _, ok := b.QuarantinedUntil("old.example", time.Now()); return ok })

	srv.Stop()
	a.SetMode("new.example", "on")
	eventually(t, 2*time.Second, "a notices Redis is gone", func() bool { return !a.Healthy() })
	if a.Mode("new.example") != "on" {
		t.Fatal("a lost its own change while Redis is down")
	}
	if _, ok := b.QuarantinedUntil("old.example", time.Now()); !ok {
		t.Fatal("b forgot the quarantine it knew when Redis went away")
	}
	if b.Mode("new.example") != "" {
		t.Fatal("b learnt a's change with Redis down?")
	}

	srv.Restart()
	took := eventually(t, 10*time.Second, "views converge after Redis returns", func() bool { return b.Mode("new.example") == "on" })
	t.Logf("converged %v after Redis came back", took)
	eventually(t, 2*time.Second, "a healthy again", a.Healthy)
}

// TestFleetClaimsExpire: a proxy that dies while claiming an attack does
// not leave the site under attack for ever.
func TestFleetClaimsExpire(t *testing.T) {
	url := "redis://" + redistest.Start(t).Addr
	a := New(client(t, url), Options{AttackTTL: 300 * time.Millisecond, Resync: time.Hour}, nil, nil)
	b := newFleet(t, client(t, url), Options{}, nil)
	a.SetAttack("z.example", true)
	eventually(t, 2*time.Second, "claim reaches b", func() bool { return b.UnderAttack("z.example", time.Now()) })
	_ = a.Close() // a dies without withdrawing its claim
	eventually(t, 2*time.Second, "claim expires", func() bool { return !b.UnderAttack("z.example", time.Now()) })
}

// TestFleetBounded: a flood of quarantines of junk hosts does not grow a
// proxy's view past MaxEntries.
func TestFleetBounded(t *testing.T) {
	url := "redis://" + redistest.Start(t).Addr
	a := newFleet(t, client(t, url), Options{}, nil)
	b := newFleet(t, client(t, url), Options{MaxEntries: 100}, nil)
	eventually(t, 5*time.Second, "b subscribed", b.Subscribed)
	for i := 0; i < 1000; i++ {
		a.SetQuarantine("junk-"+strconv.Itoa(i)+".example", time.Now().Add(time.Hour), "flood")
	}
	eventually(t, 5*time.Second, "a's writes reach Redis", func() bool { return a.Snapshot(time.Now()).Pending == 0 })
	// A full read of the view, all 1,000 entries at once: the hardest test of
	// the bound, and done when it returns (the published changes may still be
	// on their way, and each is held to the same bound).
	b.sync(true)
	b.mu.RLock()
	n := len(b.entries)
	b.mu.RUnlock()
	if n > 100 {
		t.Fatalf("b holds %d entries, want at most 100", n)
	}
}

// TestSharedSecret: every proxy gets the same random secret, made once.
func TestSharedSecret(t *testing.T) {
	url := "redis://" + redistest.Start(t).Addr
	a := newFleet(t, client(t, url), Options{}, nil)
	b := newFleet(t, client(t, url), Options{}, nil)
	ctx := context.Background()
	ka, err := a.SharedSecret(ctx, "pass-key")
	if err != nil || len(ka) != SecretLen {
		t.Fatalf("a: %x, %v", ka, err)
	}
	kb, err := b.SharedSecret(ctx, "pass-key")
	if err != nil || !bytes.Equal(ka, kb) {
		t.Fatalf("b got %x (%v), a %x: want the same secret", kb, err, ka)
	}
	if other, _ := a.SharedSecret(ctx, "other"); bytes.Equal(other, ka) {
		t.Fatal("two names share one secret")
	}
	if _, err := a.client.Set(ctx, "floodgate:{fleet}:secret:bad", "not base64!", 0).Result(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.SharedSecret(ctx, "bad"); err == nil {
		t.Fatal("a malformed secret in Redis was accepted")
	}
	down := newFleet(t, client(t, "redis://"+freeAddr(t)+"?dial_timeout=50ms"), Options{}, nil)
	if _, err := down.SharedSecret(ctx, "pass-key"); err == nil {
		t.Fatal("SharedSecret without Redis succeeded")
	}
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
