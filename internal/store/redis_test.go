package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/floodgate-proxy/floodgate/internal/redistest"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestParseRedisURL(t *testing.T) {
	for _, tc := range []struct {
		url   string
		check func(t *testing.T, c redis.UniversalClient)
	}{
		{"redis://127.0.0.1:6390", func(t *testing.T, c redis.UniversalClient) {
			o := c.(*redis.Client).Options()
			if o.Addr != "127.0.0.1:6390" || o.DB != 0 || o.TLSConfig != nil || !o.ContextTimeoutEnabled {
				t.Fatalf("options %+v", o)
			}
		}},
		{"redis://:s3cret@127.0.0.1:6390/2?dial_timeout=2s", func(t *testing.T, c redis.UniversalClient) {
			o := c.(*redis.Client).Options()
			if o.Password != "s3cret" || o.DB != 2 || o.DialTimeout != 2*time.Second {
				t.Fatalf("password/db/dial_timeout not taken: db=%d dial=%v", o.DB, o.DialTimeout)
			}
		}},
		{"rediss://user:pw@redis.example:6380", func(t *testing.T, c redis.UniversalClient) {
			o := c.(*redis.Client).Options()
			if o.TLSConfig == nil || o.TLSConfig.ServerName != "redis.example" || o.Username != "user" {
				t.Fatalf("TLS or user not set: %+v", o.TLSConfig)
			}
		}},
		{"redis+cluster://127.0.0.1:7000,127.0.0.1:7001,[::1]:7002", func(t *testing.T, c redis.UniversalClient) {
			o := c.(*redis.ClusterClient).Options()
			want := []string{"127.0.0.1:7000", "127.0.0.1:7001", "[::1]:7002"}
			if strings.Join(o.Addrs, " ") != strings.Join(want, " ") || !o.ContextTimeoutEnabled {
				t.Fatalf("Addrs = %v, want %v", o.Addrs, want)
			}
		}},
		{"rediss+cluster://:pw@h1:7000?read_timeout=1s", func(t *testing.T, c redis.UniversalClient) {
			o := c.(*redis.ClusterClient).Options()
			if o.TLSConfig == nil || o.Password != "pw" || o.ReadTimeout != time.Second {
				t.Fatalf("TLS/password/read_timeout not taken: %+v", o)
			}
		}},
		{"redis+sentinel://h1:26379,h2:26379/mymaster", nil},
		{"redis+sentinel://:pw@h1:26379/mymaster/3?sentinel_password=spw", nil},
	} {
		t.Run(tc.url, func(t *testing.T) {
			c, err := ParseRedisURL(tc.url)
			if err != nil {
				t.Fatalf("ParseRedisURL: %v", err)
			}
			defer c.Close()
			if tc.check != nil {
				tc.check(t, c)
			}
		})
	}
}

func TestParseSentinelOptions(t *testing.T) {
	o, err := parseSentinel("redis", ":p%40ss@h1:26379,h2:26380/mymaster/3?sentinel_password=spw&dial_timeout=1s")
	if err != nil {
		t.Fatal(err)
	}
	if o.MasterName != "mymaster" || o.DB != 3 || o.Password != "p@ss" || o.SentinelPassword != "spw" ||
		strings.Join(o.SentinelAddrs, " ") != "h1:26379 h2:26380" || o.DialTimeout != time.Second {
		t.Fatalf("got master=%q db=%d sentinels=%v dial=%v (passwords set: %v %v)",
			o.MasterName, o.DB, o.SentinelAddrs, o.DialTimeout, o.Password == "p@ss", o.SentinelPassword == "spw")
	}
}

func TestParseRedisURLErrors(t *testing.T) {
	const secret = "hunter2XYZ"
	for _, tc := range []struct {
		url, want string
	}{
		{"", "missing scheme"},
		{"127.0.0.1:6379", "missing scheme"},
		{"http://:" + secret + "@h:6379", `unknown scheme "http"`},
		{"unix:///tmp/redis.sock", `unknown scheme "unix"`},
		{"redis://:" + secret + "@h:6379/notadb", "invalid database number"},
		{"redis://:" + secret + "@h:6379?bogus=1", "unexpected option: bogus"},
		{"redis://:" + secret + "@h:port", "malformed URL"},
		{"redis:///0", "missing host"},
		{"redis+sentinel://:" + secret + "@h1:26379", "path must be /master-name"},
		{"redis+sentinel://h1:26379/m/1/2", "path must be /master-name"},
		{"redis+sentinel://:" + secret + "@h1/mymaster", `host "h1" is not host:port`},
		{"redis+sentinel://:" + secret + "@/mymaster", "missing host list"},
		{"redis+sentinel://:" + secret + "@h1:1/m?sentinel_password=" + secret + "&nope=1", "unexpected option: nope"},
		{"redis+cluster://:" + secret + "@h1:7000/3", "has no path"},
		{"redis+cluster://:" + secret + "@h1:7000,:7001", `host ":7001" is not host:port`},
		{"redis+cluster://:" + secret + "@h1:7000?bogus=" + secret, "unexpected option: bogus"},
		{"redis+cluster://:" + secret + "@h1:7000#frag", "fragments"},
		{"redis+cluster://:%zz@h1:7000", "malformed user:password"},
	} {
		t.Run(tc.url, func(t *testing.T) {
			c, err := ParseRedisURL(tc.url)
			if err == nil {
				c.Close()
				t.Fatalf("ParseRedisURL(%q) succeeded, want an error containing %q", tc.url, tc.want)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) {
				t.Fatalf("error %q does not say %q", msg, tc.want)
			}
			if strings.Contains(msg, secret) {
				t.Fatalf("error %q leaks the password", msg)
			}
			if !strings.Contains(msg, "expected one of") {
				t.Fatalf("error %q does not list the accepted forms", msg)
			}
		})
	}
}

// TestParseRedisURLConnects talks to a real redis-server through each form
// a single server can take.
func TestParseRedisURLConnects(t *testing.T) {
	s := redistest.Start(t, "--requirepass", "pw")
	c, err := ParseRedisURL("redis://:pw@" + s.Addr + "/1")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("PING through the parsed client: %v", err)
	}
	bad, err := ParseRedisURL("redis://:wrong@" + s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if err := bad.Ping(context.Background()).Err(); err == nil {
		t.Fatalf("PING with a wrong password succeeded; the password was not used")
	}
}

func TestExactWindowSemantics(t *testing.T) {
	s := redistest.Start(t)
	c := redis.NewClient(&redis.Options{Addr: s.Addr})
	defer c.Close()
	st, err := NewExact(c, "exacttest", nil)
	if err != nil {
		t.Fatal(err)
	}
	runWindowCases(t, harness{store: st, now: time.Now, wait: time.Sleep})
}

// TestExactStartsWithoutRedis: the exact store starts with nothing on the
// port, lets requests through (an error the decider counts and passes),
// logs once, and counts again once Redis answers.
func TestExactStartsWithoutRedis(t *testing.T) {
	if _, err := NewExact(nil, "", nil); err == nil {
		t.Fatal("NewExact(nil) succeeded, want an error")
	}
	s := redistest.Start(t)
	s.Stop()
	c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
	defer c.Close()
	core, logs := observer.New(zapcore.InfoLevel)
	st, err := NewExact(c, "", zap.New(core))
	if err != nil {
		t.Fatalf("NewExact with Redis down: %v, want a store that fails open", err)
	}
	if st.Healthy() {
		t.Fatal("Healthy() = true with nothing on the port")
	}
	ctx := context.Background()
	rate := perMinute(5)
	for i := 0; i < 3; i++ {
		if _, err := st.Increment(ctx, "k", 1, rate); err == nil {
			t.Fatal("Increment with Redis down succeeded; want an error (the request passes uncounted)")
		}
	}
	s.Restart()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := st.Increment(ctx, "k", 1, rate)
		if err == nil {
			if got.Remaining != 4 || !st.Healthy() {
				t.Fatalf("first count after Redis came back: %+v healthy=%v, want 4 left", got, st.Healthy())
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Redis back for 5s, exact store still fails: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	checkOneLinePerChange(t, logs) // one warning at start, none repeated while down, one when back
}

// TestWrongPasswordIsNamed: both Redis modes start with a wrong password,
// and their log says the credentials were refused.
func TestWrongPasswordIsNamed(t *testing.T) {
	s := redistest.Start(t, "--requirepass", "right-secret")
	for _, mode := range []string{"exact", "batched"} {
		t.Run(mode, func(t *testing.T) {
			c, err := ParseRedisURL("redis://:wrong-secret@" + s.Addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			core, logs := observer.New(zapcore.InfoLevel)
			ctx := context.Background()
			if mode == "exact" {
				st, err := NewExact(c, "", zap.New(core))
				if err != nil {
					t.Fatal(err)
				}
				if _, err := st.Increment(ctx, "k", 1, perMinute(5)); err == nil {
					t.Fatal("Increment with a wrong password succeeded")
				}
			} else {
				b := NewBatched(c, Options{SyncInterval: manual}, zap.New(core))
				defer b.Close()
				b.Increment(ctx, "k", 100, perMinute(1000)) // past its share of 26: asks Redis
				if b.Healthy() {
					t.Fatal("Healthy() = true with a wrong password")
				}
			}
			var msgs []string
			for _, e := range logs.All() {
				msgs = append(msgs, e.Message+" "+fmt.Sprint(e.ContextMap()["error"]))
			}
			all := strings.Join(msgs, "\n")
			if !strings.Contains(all, "refused floodgate's credentials") || strings.Contains(all, "<nil>") || strings.Contains(all, "wrong-secret") {
				t.Fatalf("log does not name the refused password clearly (or shows it):\n%s", all)
			}
		})
	}
}
