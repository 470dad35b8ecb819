package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"

	"github.com/redis/go-redis/v9"
)

// The batched store needs N, the number of proxies sharing one Redis, to
// size each one's share of a key's remaining allowance (see Batched). Each
// store announces itself in a sorted set every heartbeatEvery, scored by
// the time, drops members silent for peerTTL, and reads the count back:
// 5 Redis commands per proxy every 2 s.
const (
	// assumedPeers is N until the first heartbeat answers (erring towards
	// more proxies: smaller shares, more Redis calls, never more overshoot).
	assumedPeers   = 2
	heartbeatEvery = 2 * time.Second
	peerTTL        = 3*heartbeatEvery + time.Second
)

var peersScript = redis.NewScript(`
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[3]))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return redis.call('ZCARD', KEYS[1])
`)

// newProxyID returns a random name for this process in the peers set.
func newProxyID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// peersKey is the sorted set of live proxies (its own hash tag: one slot).
func (b *Batched) peersKey() string { return b.opts.KeyPrefix + ":{peers}:proxies" }

// heartbeat announces this proxy and updates the peer count.
func (b *Batched) heartbeat(ctx context.Context) error {
	n, err := peersScript.Run(ctx, b.client, []string{b.peersKey()},
		time.Now().UnixMilli(), b.id, peerTTL.Milliseconds()).Int64()
	if err != nil {
		return err
	}
	b.peers.Store(max(n, 1))
	return nil
}

// leave removes this proxy from the peers set (at Close).
func (b *Batched) leave() {
	ctx, cancel := context.WithTimeout(context.Background(), b.opts.Timeout)
	defer cancel()
	_ = b.client.ZRem(ctx, b.peersKey(), b.id).Err()
}

// Peers returns the number of proxies sharing the Redis, as last read.
func (b *Batched) Peers() int { return int(b.peers.Load()) }
