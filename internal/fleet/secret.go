package fleet

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// SecretLen is the length of a shared secret, in bytes.
const SecretLen = 32

// SharedSecret returns the fleet's secret called name: the first proxy to
// ask makes a random one and stores it in Redis (SET NX), every other gets
// that one, so passes and visitor cookies signed by one proxy are valid on
// all. It waits on Redis (bounded by ctx); without Redis it fails and the
// caller keeps its own key.
func (f *Fleet) SharedSecret(ctx context.Context, name string) ([]byte, error) {
	mine := make([]byte, SecretLen)
	if _, err := rand.Read(mine); err != nil {
		return nil, err
	}
	key := f.opts.KeyPrefix + ":{fleet}:secret:" + name
	old, err := f.client.SetArgs(ctx, key, base64.StdEncoding.EncodeToString(mine), redis.SetArgs{Mode: "NX", Get: true}).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return mine, nil // ours was stored
	case err != nil:
		return nil, fmt.Errorf("fleet: reading the shared secret %q: %w", name, err)
	}
	b, err := base64.StdEncoding.DecodeString(old)
	if err != nil || len(b) != SecretLen {
		return nil, fmt.Errorf("fleet: the shared secret %q in Redis is malformed (delete the key %s to make a new one)", name, key)
	}
	return b, nil
}
