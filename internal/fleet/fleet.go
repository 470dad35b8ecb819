// Package fleet shares the state of each member site across the floodgate
// proxies of one host through their Redis: quarantines (started, lifted),
// under-attack modes set by hand, and each proxy's own under-attack claims.
// It is Caddy-agnostic; modules/floodgate applies what it learns to the
// proxy's quarantine and detector, and reads it when deciding.
//
// Every proxy keeps the whole view in memory and answers from it, so a
// request never waits on Redis. A change is written to a Redis hash (last
// writer wins, by time then proxy id, in a Lua script) and published on a
// channel; the others apply it as soon as it arrives (milliseconds) and
// read the whole hash every Resync (default 5 s) in case a message was
// lost. A proxy that loses Redis keeps its last view and acts on its own
// signals; its own changes wait in a queue and are written when Redis
// answers again, so the views converge. Works with a single Redis,
// Sentinel and Cluster (one hash-tagged key; PUBLISH reaches every node).
package fleet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// Options configure a Fleet. The zero value is usable.
type Options struct {
	// KeyPrefix starts the Redis key and channel names; the same on every
	// proxy (the store's key_prefix). Default "floodgate".
	KeyPrefix string
	// Resync is how often the whole view is read back from Redis (besides
	// the changes published as they happen). Default 5s.
	Resync time.Duration
	// Timeout bounds one exchange with Redis. Default 250ms.
	Timeout time.Duration
	// AttackTTL is how long an under-attack claim holds unless its proxy
	// renews it (it does every AttackTTL/3 while the attack lasts).
	// Default 30s.
	AttackTTL time.Duration
	// MaxEntries bounds the entries held (expired ones go first; past
	// the bound new sites are ignored). Default 20,000.
	MaxEntries int
}

func (o Options) withDefaults() Options {
	if o.KeyPrefix == "" {
		o.KeyPrefix = "floodgate"
	}
	if o.Resync <= 0 {
		o.Resync = 5 * time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 250 * time.Millisecond
	}
	if o.AttackTTL <= 0 {
		o.AttackTTL = 30 * time.Second
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = 20_000
	}
	return o
}

// Fleet is this proxy's copy of the fleet's view, kept in step with Redis.
type Fleet struct {
	client redis.UniversalClient
	opts   Options
	log    *zap.Logger
	id     string
	now    func() time.Time

	mu      sync.RWMutex
	entries map[string]Entry // by field
	// Indexes by site, so that the per-request reads build no strings.
	quarantined map[string]Entry
	modes       map[string]string
	attacked    map[string]time.Time
	pending     map[string]Entry // own writes not yet in Redis, by field
	onChange    func(Entry)

	healthy    atomic.Bool
	subscribed atomic.Bool // Redis confirmed the subscription (see run)
	kick       chan struct{}
	stop       chan struct{}
	done       chan struct{}
	once       sync.Once
}

// New starts a Fleet on client: it subscribes to the changes and reads
// the view in the background (New never waits on Redis). onChange, when not
// nil, is called for every change made by another proxy, after it is
// applied to the view (never with a lock held). Call Close to stop.
func New(client redis.UniversalClient, opts Options, log *zap.Logger, onChange func(Entry)) *Fleet {
	if log == nil {
		log = zap.NewNop()
	}
	var b [idLen / 2]byte
	_, _ = rand.Read(b[:])
	f := &Fleet{
		client:      client,
		opts:        opts.withDefaults(),
		log:         log,
		id:          hex.EncodeToString(b[:]),
		now:         time.Now,
		entries:     map[string]Entry{},
		quarantined: map[string]Entry{},
		modes:       map[string]string{},
		attacked:    map[string]time.Time{},
		pending:     map[string]Entry{},
		onChange:    onChange,
		kick:        make(chan struct{}, 1),
		stop:        make(chan struct{}),
		done:        make(chan struct{}),
	}
	f.healthy.Store(true)
	go f.run()
	return f
}

// ID names this proxy in the entries it writes.
func (f *Fleet) ID() string { return f.id }

// Healthy reports whether the last exchange with Redis succeeded.
func (f *Fleet) Healthy() bool { return f.healthy.Load() }

// Subscribed reports whether Redis has confirmed this proxy's subscription to
// the others' changes (once; a lost subscription is renewed by the client).
func (f *Fleet) Subscribed() bool { return f.subscribed.Load() }

func (f *Fleet) hashKey() string { return f.opts.KeyPrefix + ":{fleet}:view" }
func (f *Fleet) channel() string { return f.opts.KeyPrefix + ":{fleet}:events" }

// Close stops the background work, after one last attempt (bounded by
// Timeout) to write this proxy's pending changes.
func (f *Fleet) Close() error {
	f.once.Do(func() {
		close(f.stop)
		<-f.done
	})
	return nil
}

// --- writes -------------------------------------------------------------

// SetQuarantine quarantines site until the given time, fleet-wide.
func (f *Fleet) SetQuarantine(site string, until time.Time, reason string) {
	f.write(Entry{Kind: KindQuarantine, Site: site, Value: reason, Until: until})
}

// LiftQuarantine ends site's quarantine on every proxy.
func (f *Fleet) LiftQuarantine(site string) {
	f.write(Entry{Kind: KindQuarantine, Site: site, Value: "lifted", Until: f.now()})
}

// SetMode records the under-attack mode a tech set for site (on, off or
// auto), for every proxy.
func (f *Fleet) SetMode(site, mode string) {
	f.write(Entry{Kind: KindMode, Site: site, Value: mode})
}

// SetAttack records this proxy's own verdict on site: under attack or not.
func (f *Fleet) SetAttack(site string, on bool) {
	e := Entry{Kind: KindAttack, Site: site, Value: "off", Until: f.now()}
	if on {
		e.Value, e.Until = "on", f.now().Add(f.opts.AttackTTL)
	}
	f.write(e)
}

// write applies one of this proxy's changes locally at once and queues it
// for Redis.
func (f *Fleet) write(e Entry) {
	e.By = f.id
	e.At = f.now().Truncate(time.Millisecond)
	f.mu.Lock()
	if old, ok := f.entries[e.field()]; ok && !e.newer(old) {
		// Same millisecond as a newer entry: step past it.
		e.At = old.At.Add(time.Millisecond)
	}
	f.applyLocked(e)
	f.pending[e.field()] = e
	f.mu.Unlock()
	select {
	case f.kick <- struct{}{}:
	default:
	}
}

// merge applies an entry read from Redis; reports whether it changed the
// view.
func (f *Fleet) merge(e Entry) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if old, ok := f.entries[e.field()]; ok && !e.newer(old) {
		return false
	}
	if _, ok := f.entries[e.field()]; !ok && len(f.entries) >= f.opts.MaxEntries {
		f.dropExpiredLocked(f.now())
		if len(f.entries) >= f.opts.MaxEntries {
			return false
		}
	}
	f.applyLocked(e)
	return true
}

func (f *Fleet) applyLocked(e Entry) {
	f.entries[e.field()] = e
	switch e.Kind {
	case KindAttack:
		f.recountAttackLocked(e.Site)
	case KindQuarantine:
		f.quarantined[e.Site] = e
	case KindMode:
		f.modes[e.Site] = e.Value
	}
}

// recountAttackLocked keeps attacked[site] = the latest Until of the
// site's "on" claims.
func (f *Fleet) recountAttackLocked(site string) {
	var until time.Time
	prefix := KindAttack + "|" + site + "|"
	for k, e := range f.entries { // attack claims are few: one per proxy and site
		if strings.HasPrefix(k, prefix) && e.Value == "on" && e.Until.After(until) {
			until = e.Until
		}
	}
	if until.IsZero() {
		delete(f.attacked, site)
	} else {
		f.attacked[site] = until
	}
}

// dropExpiredLocked forgets quarantines and claims that ended over a
// minute ago (modes are kept: they hold until changed).
func (f *Fleet) dropExpiredLocked(now time.Time) []string {
	var gone []string
	for k, e := range f.entries {
		if e.Kind != KindMode && e.Until.Before(now.Add(-time.Minute)) {
			delete(f.entries, k)
			gone = append(gone, k)
			switch e.Kind {
			case KindAttack:
				f.recountAttackLocked(e.Site)
			case KindQuarantine:
				delete(f.quarantined, e.Site)
			}
		}
	}
	return gone
}

// --- reads --------------------------------------------------------------

// QuarantinedUntil says until when site is quarantined fleet-wide, if it is.
func (f *Fleet) QuarantinedUntil(site string, now time.Time) (time.Time, bool) {
	f.mu.RLock()
	e, ok := f.quarantined[site]
	f.mu.RUnlock()
	if !ok || !e.Until.After(now) {
		return time.Time{}, false
	}
	return e.Until, true
}

// UnderAttack reports whether any proxy claims site is under attack now.
func (f *Fleet) UnderAttack(site string, now time.Time) bool {
	f.mu.RLock()
	until, ok := f.attacked[site]
	f.mu.RUnlock()
	return ok && until.After(now)
}

// Mode returns the mode set by hand for site ("" when none was).
func (f *Fleet) Mode(site string) string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.modes[site]
}

// SiteState is one site in a View.
type SiteState struct {
	Site             string    `json:"site"`
	QuarantinedUntil time.Time `json:"quarantined_until,omitzero"`
	QuarantineReason string    `json:"quarantine_reason,omitempty"`
	Mode             string    `json:"mode,omitempty"`
	AttackedBy       []string  `json:"under_attack_by,omitempty"` // proxy ids
}

// View is the fleet's view at one time, for the admin API.
type View struct {
	Proxy   string      `json:"proxy"`
	Healthy bool        `json:"redis_healthy"`
	Pending int         `json:"pending_writes"`
	Sites   []SiteState `json:"sites"`
}

// Snapshot returns the sites with something in force at now, sorted.
func (f *Fleet) Snapshot(now time.Time) View {
	f.mu.RLock()
	defer f.mu.RUnlock()
	sites := map[string]*SiteState{}
	get := func(s string) *SiteState {
		if sites[s] == nil {
			sites[s] = &SiteState{Site: s}
		}
		return sites[s]
	}
	for _, e := range f.entries {
		switch e.Kind {
		case KindQuarantine:
			if e.Until.After(now) {
				st := get(e.Site)
				st.QuarantinedUntil, st.QuarantineReason = e.Until, e.Value
			}
		case KindMode:
			if e.Value != "" && e.Value != "auto" {
				get(e.Site).Mode = e.Value
			}
		case KindAttack:
			if e.Value == "on" && e.Until.After(now) {
				st := get(e.Site)
				st.AttackedBy = append(st.AttackedBy, e.By)
			}
		}
	}
	v := View{Proxy: f.id, Healthy: f.healthy.Load(), Pending: len(f.pending), Sites: []SiteState{}}
	for _, st := range sites {
		sort.Strings(st.AttackedBy)
		v.Sites = append(v.Sites, *st)
	}
	sort.Slice(v.Sites, func(i, j int) bool { return v.Sites[i].Site < v.Sites[j].Site })
	return v
}

// --- Redis --------------------------------------------------------------

// setScript writes an entry unless Redis holds a newer one, and publishes
// it. KEYS[1] the hash; ARGV field, encoded entry, channel.
var setScript = redis.NewScript(`
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old and string.sub(old, 1, ` + orderLenStr + `) >= string.sub(ARGV[2], 1, ` + orderLenStr + `) then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[2])
return 1
`)

const orderLenStr = "30" // orderLen, for the script

// run subscribes to the changes, then pushes pending writes (at once when
// kicked), renews this proxy's claims and reads the whole view every
// Resync.
func (f *Fleet) run() {
	defer close(f.done)
	sub := f.client.Subscribe(context.Background(), f.channel())
	defer sub.Close()
	// Wait for Redis to confirm the subscription before the first full read:
	// what others publish before it is in that read, what they publish after
	// it comes on the channel, and nothing falls between the two. If Redis is
	// down, go on: the subscription is retried, and so is the read every Resync.
	ctx, cancel := context.WithTimeout(context.Background(), f.opts.Timeout)
	if _, err := sub.Receive(ctx); err == nil {
		f.subscribed.Store(true)
	}
	cancel()
	go f.receive(sub.Channel())
	tick := time.NewTicker(f.opts.Resync)
	defer tick.Stop()
	f.sync(true)
	for {
		select {
		case <-f.stop:
			f.sync(false)
			return
		case <-f.kick:
			f.sync(false)
		case <-tick.C:
			f.sync(true)
		}
	}
}

// receive applies the changes other proxies publish.
func (f *Fleet) receive(ch <-chan *redis.Message) {
	for m := range ch {
		e, err := decode(m.Payload)
		if err != nil {
			f.log.Debug("fleet: ignoring a malformed message", zap.Error(err))
			continue
		}
		if e.By == f.id {
			continue
		}
		if f.merge(e) && f.onChange != nil {
			f.onChange(e)
		}
	}
}

// sync pushes the pending writes and, when full, renews this proxy's
// claims and reads the whole view back.
func (f *Fleet) sync(full bool) {
	err := f.push(full)
	if err == nil && full {
		ctx, cancel := context.WithTimeout(context.Background(), f.opts.Timeout)
		err = f.pull(ctx)
		cancel()
	}
	f.setHealth(err)
}

// pushChunk is the most entries written in one pipeline (one Timeout).
const pushChunk = 100

func (f *Fleet) setHealth(err error) {
	if err != nil {
		if f.healthy.CompareAndSwap(true, false) {
			f.log.Warn("fleet: redis unreachable: this proxy keeps its last view of the sites and acts on its own signals",
				zap.Error(err))
		}
		return
	}
	if f.healthy.CompareAndSwap(false, true) {
		f.log.Info("fleet: redis reachable again: views resynced")
	}
}

// push writes the pending entries (renewing live claims first, when
// renew). Entries Redis did not take stay pending.
func (f *Fleet) push(renew bool) error {
	now := f.now()
	f.mu.Lock()
	if renew {
		for _, e := range f.entries {
			if e.Kind == KindAttack && e.By == f.id && e.Value == "on" && e.Until.Sub(now) < f.opts.AttackTTL*2/3 && e.Until.After(now) {
				e.Until = now.Add(f.opts.AttackTTL)
				e.At = now.Truncate(time.Millisecond)
				f.applyLocked(e)
				f.pending[e.field()] = e
			}
		}
	}
	batch := make([]Entry, 0, len(f.pending))
	for _, e := range f.pending {
		batch = append(batch, e)
	}
	f.mu.Unlock()
	for len(batch) > 0 {
		n := min(len(batch), pushChunk)
		if err := f.pushBatch(batch[:n]); err != nil {
			return err
		}
		batch = batch[n:]
	}
	return nil
}

// pushBatch writes entries in one pipeline, bounded by Timeout.
func (f *Fleet) pushBatch(batch []Entry) error {
	ctx, cancel := context.WithTimeout(context.Background(), f.opts.Timeout)
	defer cancel()
	pipe := f.client.Pipeline()
	cmds := make([]*redis.Cmd, len(batch))
	for i, e := range batch {
		enc, err := e.encode()
		if err != nil {
			return err
		}
		cmds[i] = setScript.Eval(ctx, pipe, []string{f.hashKey()}, e.field(), enc, f.channel())
	}
	_, execErr := pipe.Exec(ctx)
	var firstErr error
	f.mu.Lock()
	for i, e := range batch {
		err := cmds[i].Err()
		if err == nil && execErr != nil && cmds[i].Val() == nil {
			err = execErr
		}
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if p, ok := f.pending[e.field()]; ok && p.order() == e.order() {
			delete(f.pending, e.field())
		}
	}
	f.mu.Unlock()
	if firstErr != nil {
		return errors.Join(errors.New("fleet: writing to Redis"), firstErr)
	}
	return nil
}

// pull reads the whole view, merges it (telling onChange about others'
// changes) and drops from Redis the entries long expired.
func (f *Fleet) pull(ctx context.Context) error {
	all, err := f.client.HGetAll(ctx, f.hashKey()).Result()
	if err != nil {
		return err
	}
	now := f.now()
	var changed []Entry
	var stale []string
	for field, v := range all {
		e, err := decode(v)
		if err != nil || e.field() != field {
			stale = append(stale, field)
			continue
		}
		if e.Kind != KindMode && e.Until.Before(now.Add(-time.Minute)) {
			stale = append(stale, field)
			continue
		}
		if e.By != f.id && f.merge(e) {
			changed = append(changed, e)
		}
	}
	f.mu.Lock()
	f.dropExpiredLocked(now)
	f.mu.Unlock()
	if len(stale) > 0 {
		_ = f.client.HDel(ctx, f.hashKey(), stale...).Err()
	}
	if f.onChange != nil {
		for _, e := range changed {
			f.onChange(e)
		}
	}
	return nil
}
