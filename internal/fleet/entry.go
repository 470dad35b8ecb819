package fleet

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Kinds of entries in the fleet's view of a site.
const (
	// KindQuarantine: the site's POST, PUT, PATCH and DELETE are refused
	// until Until; Value is the reason. A lift is an entry whose Until has
	// passed.
	KindQuarantine = "quarantine"
	// KindMode: the under-attack mode a tech set by hand (Value on, off or
	// auto).
	KindMode = "mode"
	// KindAttack: one proxy's claim that, by its own signals, the site is
	// under attack (Value "on") until Until, or no longer ("off"). Each
	// proxy owns its claims (they are keyed by proxy) and renews them while
	// they hold; a claim of a proxy that died expires.
	KindAttack = "attack"
)

// Entry is one fact of the fleet's view. Entries with the same field
// (kind, site, and the proxy for attack claims) replace each other: the
// newest At wins, and ties go to the greater By, so every proxy and Redis
// settle on the same one whatever order they see them in.
type Entry struct {
	Kind  string    `json:"k"`
	Site  string    `json:"s"`
	Value string    `json:"v,omitempty"`
	Until time.Time `json:"u,omitzero"`
	At    time.Time `json:"-"` // in the wire order prefix
	By    string    `json:"-"` // in the wire order prefix
}

// field names the entry in the Redis hash and in the local view.
func (e Entry) field() string {
	if e.Kind == KindAttack {
		return e.Kind + "|" + e.Site + "|" + e.By
	}
	return e.Kind + "|" + e.Site
}

// idLen is the length of a proxy id (8 random bytes, hex).
const idLen = 16

// order is the entry's rank for last-writer-wins: 13 digits of unix
// milliseconds, '|', the proxy id. Comparing two orders as strings
// compares (At, By), in Go and in the Lua script alike.
func (e Entry) order() string {
	return fmt.Sprintf("%013d|%s", e.At.UnixMilli(), e.By)
}

// orderLen is len(Entry.order()).
const orderLen = 13 + 1 + idLen

// newer reports whether e replaces old.
func (e Entry) newer(old Entry) bool { return e.order() > old.order() }

// encode is the entry as stored in Redis and published: its order, '|',
// then JSON.
func (e Entry) encode() (string, error) {
	if len(e.By) != idLen {
		return "", fmt.Errorf("fleet: proxy id %q is not %d characters", e.By, idLen)
	}
	b, err := json.Marshal(e)
	if err != nil {
		return "", err
	}
	return e.order() + "|" + string(b), nil
}

// decode parses an encoded entry.
func decode(s string) (Entry, error) {
	if len(s) < orderLen+2 || s[13] != '|' || s[orderLen] != '|' {
		return Entry{}, errors.New("fleet: malformed entry")
	}
	var ms int64
	if _, err := fmt.Sscanf(s[:13], "%d", &ms); err != nil {
		return Entry{}, fmt.Errorf("fleet: malformed entry time: %w", err)
	}
	var e Entry
	if err := json.Unmarshal([]byte(s[orderLen+1:]), &e); err != nil {
		return Entry{}, fmt.Errorf("fleet: malformed entry: %w", err)
	}
	switch e.Kind {
	case KindQuarantine, KindMode, KindAttack:
	default:
		return Entry{}, fmt.Errorf("fleet: unknown entry kind %q", e.Kind)
	}
	if e.Site == "" {
		return Entry{}, errors.New("fleet: entry without a site")
	}
	e.At = time.UnixMilli(ms)
	e.By = s[14:orderLen]
	return e, nil
}
