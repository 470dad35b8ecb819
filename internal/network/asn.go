package network

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	maxminddb "github.com/oschwald/maxminddb-golang/v2"
)

// ASN is the autonomous system an address belongs to.
type ASN struct {
	// Number is the autonomous system number, e.g. 15169 for Google.
	Number uint32
	// Org is the organisation that holds the AS, as spelled by the
	// database, e.g. "GOOGLE". It may be empty.
	Org string
}

// String formats the ASN as "AS15169 GOOGLE" (or "AS15169" without Org).
func (a ASN) String() string {
	if a.Org == "" {
		return fmt.Sprintf("AS%d", a.Number)
	}
	return fmt.Sprintf("AS%d %s", a.Number, a.Org)
}

// asnRecord is the part of a database record Lookup decodes. GeoLite2-ASN,
// GeoIP2-ISP and DB-IP's ASN Lite databases all use these field names.
type asnRecord struct {
	Number uint32 `maxminddb:"autonomous_system_number"`
	Org    string `maxminddb:"autonomous_system_organization"`
}

// ASNDBInfo describes an opened ASN database, for a log line at startup.
type ASNDBInfo struct {
	// Path is the file the database was read from.
	Path string
	// DatabaseType is the type the database declares, e.g. "GeoLite2-ASN".
	DatabaseType string
	// Description is the database's English description, if any.
	Description string
	// BuildTime is when the database was built; old databases misclassify.
	BuildTime time.Time
	// IPVersion is 4 for an IPv4-only database, 6 for IPv4 and IPv6.
	IPVersion uint
	// NodeCount is the number of nodes in the search tree (a size hint).
	NodeCount uint
	// Size is the file size in bytes.
	Size int64
}

// String formats the info for a log line.
func (i ASNDBInfo) String() string {
	return fmt.Sprintf("%s: %s built %s, IPv%d, %d nodes, %d bytes",
		i.Path, i.DatabaseType, i.BuildTime.UTC().Format(time.RFC3339), i.IPVersion, i.NodeCount, i.Size)
}

// ASNDB maps addresses to autonomous systems using a MaxMind DB (.mmdb)
// file such as GeoLite2-ASN or DB-IP ASN Lite. It is safe for concurrent
// use. Lookups never panic: a database that turns out corrupt at lookup
// time answers "not found" and the error is kept for LookupErrors.
//
// The whole file is read into memory (an ASN database is ~10 MB) rather
// than memory-mapped, so replacing the file in place while the server runs
// (cp over it, a partial download) cannot crash the process with SIGBUS;
// open a new ASNDB to pick up a new file.
type ASNDB struct {
	reader *maxminddb.Reader
	info   ASNDBInfo
	cache  asnCache

	errCount atomic.Uint64
	lastErr  atomic.Pointer[error]

	// records remembers decoded records by their offset in the database: the records of a
	// few thousand networks serve most traffic, and decoding one (by reflection, with an
	// allocation) costs more than the rest of a lookup. Direct-mapped, lock-free: a slot
	// holds the last record decoded there.
	records [recordSlots]atomic.Pointer[cachedRecord]
}

// recordSlots is the size of ASNDB.records.
const (
	recordBits  = 12
	recordSlots = 1 << recordBits
)

// cachedRecord is a decoded record and its offset in the database.
type cachedRecord struct {
	offset uintptr
	asn    ASN
}

// slot returns the records slot of a record offset.
func (db *ASNDB) slot(offset uintptr) *atomic.Pointer[cachedRecord] {
	h := uint64(offset) * 0x9E3779B97F4A7C15 // Fibonacci hashing: offsets are not uniform
	return &db.records[h>>(64-recordBits)]
}

// asnCache remembers lookups by block — the /24 of an IPv4 address, the /48 of an IPv6 one —
// when the database's network for the address holds the whole block (so every address of
// the block gets the same answer), and by address when the network is narrower: a client then
// skips the walk down the search tree (up to 128 steps for IPv6) and the decoding, a fifth of
// a cached classification. Bounded like the User-Agent cache: a full shard is emptied.
type asnCache struct {
	shards [asnCacheShards]asnShard
}

const (
	asnCacheShards   = 16
	asnCacheShardCap = 4096 // 64k blocks and addresses in all
)

type asnShard struct {
	mu sync.RWMutex
	m  map[asnKey]asnCached
}

// asnKey is a block (its first address) or, with exact, one address.
type asnKey struct {
	addr  netip.Addr
	exact bool
}

type asnCached struct {
	asn ASN
	ok  bool
}

// blockOf returns the block of ip: its /24 or /48.
func blockOf(ip netip.Addr) netip.Prefix {
	bits := 48
	if ip.Is4() {
		bits = 24
	}
	p, _ := ip.Prefix(bits)
	return p
}

func (c *asnCache) shard(k asnKey) *asnShard {
	a := k.addr.As16()
	return &c.shards[(a[15]^a[14]^a[13]^a[12]^a[5]^a[4])%asnCacheShards]
}

// get returns the cached answer for ip, in block or its own.
func (c *asnCache) get(block netip.Prefix, ip netip.Addr) (asnCached, bool) {
	for _, k := range [2]asnKey{{addr: block.Addr()}, {addr: ip, exact: true}} {
		sh := c.shard(k)
		sh.mu.RLock()
		v, ok := sh.m[k]
		sh.mu.RUnlock()
		if ok {
			return v, true
		}
	}
	return asnCached{}, false
}

func (c *asnCache) put(k asnKey, v asnCached) {
	sh := c.shard(k)
	sh.mu.Lock()
	if sh.m == nil || len(sh.m) >= asnCacheShardCap {
		sh.m = make(map[asnKey]asnCached)
	}
	sh.m[k] = v
	sh.mu.Unlock()
}

func (c *asnCache) clear() {
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		sh.m = nil
		sh.mu.Unlock()
	}
}

// OpenASN reads and verifies the ASN database at path. The error names the
// path and what is wrong: missing file, not a MaxMind DB, corrupt content
// (the whole search tree and data section are verified here, so corruption
// is found at startup instead of at lookup time), or a database of another
// kind (e.g. GeoLite2-City).
func OpenASN(path string) (*ASNDB, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("ASN database %q: file does not exist (expected a MaxMind DB file such as GeoLite2-ASN.mmdb): %w", path, err)
		case errors.Is(err, fs.ErrPermission):
			return nil, fmt.Errorf("ASN database %q: permission denied (the server must be able to read it): %w", path, err)
		default:
			return nil, fmt.Errorf("ASN database %q: cannot read: %w", path, err)
		}
	}
	return openASNBytes(path, data, true)
}

// openASNBytes opens a database held in data. verify is false only in tests
// that exercise corruption found at lookup time.
func openASNBytes(path string, data []byte, verify bool) (db *ASNDB, err error) {
	// The reader is hardened against bad input, but a crash here would take
	// the whole server down with it: turn any panic into an error.
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("ASN database %q: corrupt MaxMind DB file (reader panicked: %v)", path, r)
		}
	}()
	if len(data) == 0 {
		return nil, fmt.Errorf("ASN database %q: file is empty (expected a MaxMind DB file such as GeoLite2-ASN.mmdb)", path)
	}
	reader, err := maxminddb.OpenBytes(data)
	if err != nil {
		return nil, fmt.Errorf("ASN database %q: not a valid MaxMind DB file (expected a .mmdb such as GeoLite2-ASN.mmdb): %w", path, err)
	}
	if verify {
		if err := verifyRecords(reader); err != nil {
			return nil, fmt.Errorf("ASN database %q: corrupt MaxMind DB file (verification failed): %w", path, err)
		}
	}
	m := reader.Metadata
	if !looksLikeASN(m.DatabaseType) {
		return nil, fmt.Errorf("ASN database %q: database type %q has no ASN data (expected GeoLite2-ASN, GeoIP2-ISP, DB-IP ASN Lite or another database whose type names ASN or ISP)", path, m.DatabaseType)
	}
	return &ASNDB{
		reader: reader,
		info: ASNDBInfo{
			Path:         path,
			DatabaseType: m.DatabaseType,
			Description:  m.Description["en"],
			BuildTime:    m.BuildTime(),
			IPVersion:    m.IPVersion,
			NodeCount:    m.NodeCount,
			Size:         int64(len(data)),
		},
	}, nil
}

// looksLikeASN reports whether a database type is one that carries
// autonomous_system_number records: GeoLite2-ASN, GeoIP2-ISP,
// "DBIP-ASN-Lite (compat=GeoLite2-ASN)" and the like.
func looksLikeASN(databaseType string) bool {
	t := strings.ToUpper(databaseType)
	return strings.Contains(t, "ASN") || strings.Contains(t, "ISP")
}

// Info describes the database, for a log line.
func (db *ASNDB) Info() ASNDBInfo { return db.info }

// Lookup returns the autonomous system of ip. ok is false when the database
// has no AS for ip (unrouted, private, or a record without a number) and
// when the lookup failed; failures are counted and kept for LookupErrors.
// IPv4-mapped IPv6 addresses are looked up as IPv4.
func (db *ASNDB) Lookup(ip netip.Addr) (ASN, bool) {
	asn, ok, _ := db.LookupErr(ip)
	return asn, ok
}

// LookupErr is Lookup that also returns the error of a failed lookup (a
// corrupt database); such errors are also counted for LookupErrors. An
// invalid (zero) ip, or an IPv6 address in an IPv4-only database, is simply
// not found.
func (db *ASNDB) LookupErr(ip netip.Addr) (asn ASN, ok bool, err error) {
	if !ip.IsValid() {
		return ASN{}, false, nil
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is6() && db.info.IPVersion == 4 {
		return ASN{}, false, nil
	}
	block := blockOf(ip)
	if v, hit := db.cache.get(block, ip); hit {
		return v.asn, v.ok, nil
	}
	defer func() {
		if r := recover(); r != nil {
			asn, ok = ASN{}, false
			err = db.fail(ip, fmt.Errorf("reader panicked: %v", r))
		}
	}()
	res := db.reader.Lookup(ip)
	if err := res.Err(); err != nil {
		return ASN{}, false, db.fail(ip, err)
	}
	// The answer holds for the whole block when the database's network for ip does.
	key := asnKey{addr: ip, exact: true}
	if n := res.Prefix(); n.IsValid() && n.Bits() <= block.Bits() {
		key = asnKey{addr: block.Addr()}
	}
	if !res.Found() {
		db.cache.put(key, asnCached{})
		return ASN{}, false, nil
	}
	slot := db.slot(res.Offset())
	if c := slot.Load(); c != nil && c.offset == res.Offset() {
		return c.asn, c.asn.Number != 0, nil
	}
	var rec asnRecord
	if err := res.Decode(&rec); err != nil {
		return ASN{}, false, db.fail(ip, err)
	}
	slot.Store(&cachedRecord{offset: res.Offset(), asn: ASN(rec)})
	if rec.Number == 0 {
		db.cache.put(key, asnCached{})
		return ASN{}, false, nil
	}
	db.cache.put(key, asnCached{asn: ASN(rec), ok: true})
	return ASN(rec), true, nil
}

// fail records a lookup error and returns it with context.
func (db *ASNDB) fail(ip netip.Addr, err error) error {
	err = fmt.Errorf("ASN database %q: lookup %s: %w (is the file corrupt? replace it and reload)", db.info.Path, ip, err)
	db.errCount.Add(1)
	db.lastErr.Store(&err)
	return err
}

// LookupErrors returns how many lookups failed since the database was
// opened and the last such error (nil if none), for metrics and logs.
func (db *ASNDB) LookupErrors() (count uint64, last error) {
	count = db.errCount.Load()
	if p := db.lastErr.Load(); p != nil {
		last = *p
	}
	return count, last
}

// Close releases the database. Lookups after Close fail (not found, with
// an error); Close must not race with lookups still in flight.
func (db *ASNDB) Close() error {
	db.cache.clear()
	if err := db.reader.Close(); err != nil {
		return fmt.Errorf("ASN database %q: close: %w", db.info.Path, err)
	}
	return nil
}

// verifyRecords runs maxminddb's full verification (metadata, search tree, separator, every
// data record) but does not require the optional description: the format calls it optional,
// and ip-location-db's converter and other mmdbwriter tools leave it out. What lookups decode
// is checked as strictly as before.
func verifyRecords(reader *maxminddb.Reader) error {
	if len(reader.Metadata.Description) == 0 {
		reader.Metadata.Description = map[string]string{"": "(none)"}
		defer func() { reader.Metadata.Description = nil }()
	}
	return reader.Verify()
}
