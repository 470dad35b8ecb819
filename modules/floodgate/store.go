package floodgate

import (
	"fmt"
	"net/url"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/ulule/limiter/v3"
	"go.uber.org/zap"

	"github.com/floodgate-proxy/floodgate/internal/store"
)

// StoreConfig says where floodgate keeps its counters.
type StoreConfig struct {
	// Redis is the URL of a Redis (or Valkey) shared by every floodgate proxy: redis://,
	// rediss:// (TLS), or the Sentinel and Cluster forms described in the README. Empty: the
	// counters live in this process's memory.
	Redis string `json:"redis,omitempty"`

	// Mode is "batched" (default: count locally, sync with Redis every SyncInterval, no
	// request ever waits on Redis) or "exact" (one Redis round trip per budget per request;
	// slower, and a slow Redis slows requests down to Timeout).
	Mode string `json:"mode,omitempty"`

	// SyncInterval is how often the batched store pushes the keys that near their share of a
	// budget. Default 100ms. It no longer sets the overshoot: near its limit a key asks Redis,
	// so N proxies admit at most limit × 1.05 + N whatever the rate (see the README).
	SyncInterval caddy.Duration `json:"sync_interval,omitempty"`

	// Timeout bounds one exchange with Redis: one sync, or one request's call for a key near
	// its limit, in batched mode (default 250ms; past it Redis counts as down), one request's
	// count in exact mode (default 50ms).
	Timeout caddy.Duration `json:"timeout,omitempty"`

	// KeyPrefix begins every key floodgate writes in Redis, so deployments can share one.
	// It must be the same on every proxy and hold no '{' or '}'. Default "floodgate".
	KeyPrefix string `json:"key_prefix,omitempty"`

	// MaxKeys bounds how many counters are kept in memory (the memory store, and the local
	// side of the batched store); the idlest are evicted first. Default 1,000,000.
	MaxKeys int `json:"max_keys,omitempty"`
}

func (c StoreConfig) describe() string {
	if c.Redis == "" {
		return "memory"
	}
	mode := c.Mode
	if mode == "" {
		mode = "batched"
	}
	return "redis " + redactURL(c.Redis) + " (" + mode + ")"
}

// redactURL hides a password in a Redis URL for logs and messages.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// stores shares counter stores across config loads, keyed by their configuration: a reload
// that keeps the store configuration keeps the counters.
var stores = caddy.NewUsagePool()

type pooledStore struct {
	limiter.Store
	close func() error
}

func (p pooledStore) Destruct() error {
	if p.close == nil {
		return nil
	}
	return p.close()
}

func loadStore(c StoreConfig, log *zap.Logger) (limiter.Store, string, error) {
	switch c.Mode {
	case "", "batched", "exact":
	default:
		return nil, "", fmt.Errorf("store: mode %q: expected batched or exact", c.Mode)
	}
	if c.Mode != "" && c.Redis == "" {
		return nil, "", fmt.Errorf("store: mode %q needs a redis URL", c.Mode)
	}
	key := storeKey(c)
	v, loaded, err := stores.LoadOrNew(key, func() (caddy.Destructor, error) {
		if c.Redis == "" {
			return pooledStore{Store: store.NewMemory(c.MaxKeys)}, nil
		}
		client, err := store.ParseRedisURL(c.Redis)
		if err != nil {
			return nil, err
		}
		if c.Mode == "exact" {
			// Starts without Redis: requests pass uncounted until it answers.
			st, err := store.NewExact(client, c.KeyPrefix, log.Named("store"))
			if err != nil {
				_ = client.Close()
				return nil, err
			}
			return pooledStore{Store: st, close: client.Close}, nil
		}
		opts := store.Options{
			SyncInterval: time.Duration(c.SyncInterval),
			Timeout:      time.Duration(c.Timeout),
			KeyPrefix:    c.KeyPrefix,
			MaxKeys:      c.MaxKeys,
		}
		if err := opts.Validate(); err != nil {
			_ = client.Close()
			return nil, fmt.Errorf("store: %w", err)
		}
		b := store.NewBatched(client, opts, log.Named("store"))
		return pooledStore{Store: b, close: func() error {
			err := b.Close()
			_ = client.Close()
			return err
		}}, nil
	})
	if err != nil {
		return nil, "", err
	}
	if loaded {
		log.Debug("counter store kept from the previous configuration", zap.String("store", c.describe()))
	}
	return v.(pooledStore).Store, key, nil
}
