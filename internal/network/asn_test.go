package network

import (
	"bytes"
	"encoding/json"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

func openTestASN(tb testing.TB, path string) *ASNDB {
	tb.Helper()
	db, err := OpenASN(path)
	if err != nil {
		tb.Fatalf("OpenASN(%s): %v", path, err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	return db
}

// lastAddr returns the last address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	bits := p.Bits()
	for i := range b {
		for j := 0; j < 8; j++ {
			if i*8+j >= bits {
				b[i] |= 0x80 >> j
			}
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// TestASNMaxMindTestDB checks every network of MaxMind's own test ASN
// database against the JSON it was built from, twice: decoded, then from the
// records remembered (ASNDB.records).
func TestASNMaxMindTestDB(t *testing.T) {
	db := openTestASN(t, sharedData(t, "maxmind-test", "GeoLite2-ASN-Test.mmdb"))
	if got := db.Info().DatabaseType; got != "GeoLite2-ASN" {
		t.Errorf("DatabaseType = %q, want GeoLite2-ASN", got)
	}

	raw, err := os.ReadFile(sharedData(t, "maxmind-test", "GeoLite2-ASN-Test.json"))
	if err != nil {
		t.Fatal(err)
	}
	var entries []map[string]struct {
		Number uint32 `json:"autonomous_system_number"`
		Org    string `json:"autonomous_system_organization"`
	}
	if err := json.Unmarshal(raw, &entries); err != nil {
		t.Fatalf("GeoLite2-ASN-Test.json: %v", err)
	}
	checked := 0
	for range 2 {
		for _, e := range entries {
			for cidr, want := range e {
				p, err := netip.ParsePrefix(cidr)
				if err != nil {
					t.Fatalf("GeoLite2-ASN-Test.json: network %q: %v", cidr, err)
				}
				addrs := []netip.Addr{p.Addr(), lastAddr(p)}
				if p.Addr().Is4() {
					addrs = append(addrs, netip.AddrFrom16(p.Addr().As16())) // IPv4-mapped
				}
				for _, ip := range addrs {
					got, ok, err := db.LookupErr(ip)
					if err != nil || !ok || got.Number != want.Number || got.Org != want.Org {
						t.Errorf("%s (in %s): got %v, %v, %v; want AS%d %q", ip, cidr, got, ok, err, want.Number, want.Org)
					}
					checked++
				}
			}
		}
	}
	if checked < 2000 {
		t.Errorf("checked only %d addresses; is the JSON complete?", checked)
	}
	if n, last := db.LookupErrors(); n != 0 || last != nil {
		t.Errorf("LookupErrors = %d, %v; want none", n, last)
	}
	for _, s := range []string{"127.0.0.1", "10.1.2.3", "::1", "2001:db8::1"} {
		if got, ok := db.Lookup(netip.MustParseAddr(s)); ok {
			t.Errorf("Lookup(%s) = %v, want not found", s, got)
		}
	}
}

// TestASNGenerated checks testdata/mmdb/test-asn.mmdb, which other
// packages' tests rely on.
func TestASNGenerated(t *testing.T) {
	db := openTestASN(t, testASNPath)
	info := db.Info()
	if info.DatabaseType != "GeoLite2-ASN" || info.IPVersion != 6 ||
		!info.BuildTime.Equal(time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("Info = %+v", info)
	}
	if s := info.String(); !strings.Contains(s, "GeoLite2-ASN built 2026-08-01T00:00:00Z") {
		t.Errorf("Info.String() = %q", s)
	}
	tests := []struct {
		ip   string
		want ASN
		ok   bool
	}{
		{"127.0.1.1", ASN{16509, "AMAZON-02"}, true},
		{"127.0.1.255", ASN{16509, "AMAZON-02"}, true},
		{"127.0.2.9", ASN{15169, "GOOGLE"}, true},
		{"127.0.3.9", ASN{8075, "MICROSOFT-CORP-MSN-AS-BLOCK"}, true},
		{"127.0.4.9", ASN{24940, "Hetzner Online GmbH"}, true},
		{"127.0.10.9", ASN{3215, "Orange"}, true},
		{"127.0.11.9", ASN{7922, "COMCAST-7922"}, true},
		{"::ffff:127.0.2.9", ASN{15169, "GOOGLE"}, true},
		{"::1", ASN{3215, "Orange"}, true},
		{"66.249.64.0", ASN{15169, "GOOGLE"}, true},
		{"66.249.95.255", ASN{15169, "GOOGLE"}, true},
		{"20.31.255.255", ASN{8075, "MICROSOFT-CORP-MSN-AS-BLOCK"}, true},
		{"3.127.0.1", ASN{16509, "AMAZON-02"}, true},
		{"90.1.2.3", ASN{3215, "Orange"}, true},
		{"127.0.0.1", ASN{}, false},
		{"127.0.5.1", ASN{}, false},
		{"66.249.96.0", ASN{}, false},
		{"20.32.0.0", ASN{}, false},
		{"3.128.0.0", ASN{}, false},
		{"90.128.0.0", ASN{}, false},
		{"8.8.8.8", ASN{}, false},
		{"::2", ASN{}, false},
		{"fe80::1%eth0", ASN{}, false},
	}
	for _, tt := range tests {
		got, ok, err := db.LookupErr(netip.MustParseAddr(tt.ip))
		if err != nil || ok != tt.ok || got != tt.want {
			t.Errorf("LookupErr(%s) = %v, %v, %v; want %v, %v", tt.ip, got, ok, err, tt.want, tt.ok)
		}
	}
	if got, ok := db.Lookup(netip.Addr{}); ok {
		t.Errorf("Lookup(zero Addr) = %v, want not found", got)
	}
	if got := (ASN{15169, "GOOGLE"}).String(); got != "AS15169 GOOGLE" {
		t.Errorf("ASN.String() = %q", got)
	}
}

// writeMMDB writes a small database of the given type to a temp file.
func writeMMDB(t *testing.T, databaseType string, record mmdbtype.Map) string {
	t.Helper()
	return writeMMDBVersion(t, databaseType, 6, record)
}

// writeMMDBVersion is writeMMDB with an IP version (4: IPv4-only tree).
func writeMMDBVersion(t *testing.T, databaseType string, ipVersion int, record mmdbtype.Map) string {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType:            databaseType,
		Description:             map[string]string{"en": "test"},
		IncludeReservedNetworks: true,
		IPVersion:               ipVersion,
		RecordSize:              24,
	})
	if err != nil {
		t.Fatal(err)
	}
	_, n, _ := net.ParseCIDR("127.0.0.0/8")
	if err := tree.Insert(n, record); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := tree.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "test.mmdb")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestOpenASNErrors checks that every kind of bad file gives an error that
// names the file and says what is wrong, and never a panic.
func TestOpenASNErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	bad := func(name string) string { return sharedData(t, "maxmind-test", "bad", name) }
	tests := []struct {
		name string
		path string
		want []string // substrings of the error
	}{
		{"missing", filepath.Join(dir, "nope.mmdb"), []string{"file does not exist", "GeoLite2-ASN.mmdb"}},
		{"directory", dir, []string{"cannot read", "is a directory"}},
		{"empty", write("empty.mmdb", nil), []string{"file is empty"}},
		{"text", write("text.mmdb", []byte("1.2.3.0/24 AS1\n")), []string{"not a valid MaxMind DB file", "invalid MaxMind DB file"}},
		{"truncated", func() string {
			data, err := os.ReadFile(testASNPath)
			if err != nil {
				t.Fatal(err)
			}
			return write("truncated.mmdb", data[:len(data)/2])
		}(), []string{"not a valid MaxMind DB file"}},
		{"city", writeMMDB(t, "GeoLite2-City", mmdbtype.Map{"city": mmdbtype.String("x")}), []string{`database type "GeoLite2-City" has no ASN data`}},
		{"cyclic-data-structure", bad("cyclic-data-structure.mmdb"), []string{"not a valid MaxMind DB file", "unexpected end of database"}},
		{"invalid-bytes-length", bad("invalid-bytes-length.mmdb"), []string{"not a valid MaxMind DB file", "unexpected end of database"}},
		{"invalid-data-record-offset", bad("invalid-data-record-offset.mmdb"), []string{"not a valid MaxMind DB file", "unknown type"}},
		{"invalid-map-key-length", bad("invalid-map-key-length.mmdb"), []string{"not a valid MaxMind DB file", "unexpected end of database"}},
		{"invalid-string-length", bad("invalid-string-length.mmdb"), []string{"not a valid MaxMind DB file", "unexpected end of database"}},
		{"metadata-is-an-uint128", bad("metadata-is-an-uint128.mmdb"), []string{"not a valid MaxMind DB file", "unexpected end of database"}},
		{"unexpected-bytes", bad("unexpected-bytes.mmdb"), []string{"not a valid MaxMind DB file", "cannot unmarshal"}},
	}
	covered := map[string]bool{}
	for _, tt := range tests {
		covered[filepath.Base(tt.path)] = true
		t.Run(tt.name, func(t *testing.T) {
			db, err := OpenASN(tt.path)
			if err == nil {
				// Whatever opens must still answer without panicking.
				for _, s := range []string{"1.1.1.1", "127.0.0.1", "::1", "2001:db8::1"} {
					db.Lookup(netip.MustParseAddr(s))
				}
				_ = db.Close()
				t.Fatalf("OpenASN(%s) succeeded, want an error containing %q", tt.path, tt.want)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.path) {
				t.Errorf("error %q does not name the path %s", msg, tt.path)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
		})
	}
	// Every corrupt file MaxMind ships must be in the table above.
	files, err := filepath.Glob(filepath.Join(sharedData(t, "maxmind-test", "bad"), "*.mmdb"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no files in maxmind-test/bad: %v", err)
	}
	for _, f := range files {
		if !covered[filepath.Base(f)] {
			t.Errorf("%s is not in the table of bad databases", f)
		}
	}
}

// corruptTestASN returns the generated test database with the string
// "Hetzner Online GmbH" made to claim a length past the end of the file,
// so that the search tree is fine but decoding 127.0.4.0/24 fails.
func corruptTestASN(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile(testASNPath)
	if err != nil {
		t.Fatal(err)
	}
	org := []byte("Hetzner Online GmbH")
	i := bytes.Index(data, org)
	if i < 1 || data[i-1] != 0x40|byte(len(org)) {
		t.Fatalf("test-asn.mmdb: cannot find the string control byte of %q", org)
	}
	data = bytes.Clone(data)
	data[i-1] = 0x40 | 31 // size 65821 + the next three bytes
	return data
}

// TestASNCorruptAtLookup checks that corruption found only when a record is
// decoded gives not-found plus a visible error, and that OpenASN's
// verification catches it at startup.
func TestASNCorruptAtLookup(t *testing.T) {
	data := corruptTestASN(t)
	path := filepath.Join(t.TempDir(), "corrupt.mmdb")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenASN(path); err == nil || !strings.Contains(err.Error(), "verification failed") {
		t.Errorf("OpenASN(corrupt) error = %v, want verification failed", err)
	}

	db, err := openASNBytes(path, data, false)
	if err != nil {
		t.Fatalf("openASNBytes without verify: %v", err)
	}
	defer db.Close()
	if got, ok := db.Lookup(netip.MustParseAddr("127.0.2.1")); !ok || got.Number != 15169 {
		t.Errorf("Lookup(127.0.2.1) = %v, %v; want AS15169 (intact record)", got, ok)
	}
	if n, _ := db.LookupErrors(); n != 0 {
		t.Fatalf("LookupErrors before the bad lookup = %d", n)
	}
	got, ok, err := db.LookupErr(netip.MustParseAddr("127.0.4.1"))
	if ok || got != (ASN{}) || err == nil {
		t.Fatalf("LookupErr(127.0.4.1) = %v, %v, %v; want not found and an error", got, ok, err)
	}
	if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "127.0.4.1") {
		t.Errorf("error %q does not name the path and the address", err)
	}
	if _, ok := db.Lookup(netip.MustParseAddr("127.0.4.2")); ok {
		t.Error("Lookup(127.0.4.2) found, want not found")
	}
	n, last := db.LookupErrors()
	if n != 2 || last == nil || !strings.Contains(last.Error(), "127.0.4.2") {
		t.Errorf("LookupErrors = %d, %v; want 2 and the last one for 127.0.4.2", n, last)
	}
}

func TestASNLookupAfterClose(t *testing.T) {
	db, err := OpenASN(testASNPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := db.LookupErr(netip.MustParseAddr("127.0.1.1")); ok || err == nil {
		t.Errorf("LookupErr after Close = %v, %v; want not found and an error", ok, err)
	}
}

// TestOpenASNAcceptsOtherASNTypes checks that databases other than
// GeoLite2-ASN with the same record shape (DB-IP ASN Lite, GeoIP2-ISP)
// are accepted.
func TestOpenASNAcceptsOtherASNTypes(t *testing.T) {
	rec := mmdbtype.Map{
		"autonomous_system_number":       mmdbtype.Uint32(64500),
		"autonomous_system_organization": mmdbtype.String("Example"),
	}
	for _, typ := range []string{"DBIP-ASN-Lite (compat=GeoLite2-ASN)", "GeoIP2-ISP"} {
		db := openTestASN(t, writeMMDB(t, typ, rec))
		if got, ok := db.Lookup(netip.MustParseAddr("127.1.2.3")); !ok || got != (ASN{64500, "Example"}) {
			t.Errorf("%s: Lookup = %v, %v", typ, got, ok)
		}
	}
}

// TestASNIPv4OnlyDB checks that an IPv6 address in an IPv4-only database
// is simply not found, not an error.
func TestASNIPv4OnlyDB(t *testing.T) {
	db := openTestASN(t, writeMMDBVersion(t, "GeoLite2-ASN", 4, mmdbtype.Map{
		"autonomous_system_number": mmdbtype.Uint32(64500),
	}))
	if db.Info().IPVersion != 4 {
		t.Fatalf("IPVersion = %d", db.Info().IPVersion)
	}
	tests := []struct {
		ip   string
		want ASN
		ok   bool
	}{
		{"127.1.2.3", ASN{Number: 64500}, true}, // record without organisation
		{"::ffff:127.1.2.3", ASN{Number: 64500}, true},
		{"::1", ASN{}, false},
		{"2001:db8::1", ASN{}, false},
	}
	for _, tt := range tests {
		got, ok, err := db.LookupErr(netip.MustParseAddr(tt.ip))
		if err != nil || ok != tt.ok || got != tt.want {
			t.Errorf("LookupErr(%s) = %v, %v, %v; want %v, %v", tt.ip, got, ok, err, tt.want, tt.ok)
		}
	}
}

// TestASNConcurrent runs lookups from several goroutines (run with -race).
func TestASNConcurrent(t *testing.T) {
	data := corruptTestASN(t)
	db, err := openASNBytes("corrupt", data, false)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	done := make(chan struct{})
	const workers, rounds = 4, 200
	for range workers {
		go func() {
			defer func() { done <- struct{}{} }()
			for range rounds {
				db.Lookup(netip.MustParseAddr("127.0.2.1"))
				db.Lookup(netip.MustParseAddr("127.0.4.1")) // fails
				db.LookupErrors()
			}
		}()
	}
	for range workers {
		<-done
	}
	if n, _ := db.LookupErrors(); n != workers*rounds {
		t.Errorf("LookupErrors = %d, want %d", n, workers*rounds)
	}
}

func BenchmarkASNLookup(b *testing.B) {
	for _, bc := range []struct {
		name, ip string
		db       func(testing.TB) string
	}{
		{"generated/v4", "66.249.66.1", func(testing.TB) string { return testASNPath }},
		{"maxmind/v4", "1.128.0.1", func(tb testing.TB) string { return sharedData(tb, "maxmind-test", "GeoLite2-ASN-Test.mmdb") }},
		{"maxmind/v6", "2600:6000::1", func(tb testing.TB) string { return sharedData(tb, "maxmind-test", "GeoLite2-ASN-Test.mmdb") }},
		{"maxmind/notfound", "10.0.0.1", func(tb testing.TB) string { return sharedData(tb, "maxmind-test", "GeoLite2-ASN-Test.mmdb") }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			db := openTestASN(b, bc.db(b))
			ip := netip.MustParseAddr(bc.ip)
			b.ReportAllocs()
			for b.Loop() {
				db.Lookup(ip)
			}
		})
	}
}

// TestOpenASNWithoutDescription: the description is optional in the MaxMind DB format, and
// databases written by ip-location-db's converter or other mmdbwriter tools leave it out. Such
// a database opens and answers like the one with a description (issue 10: it was refused as
// "corrupt"), while every corrupt file is still refused (TestOpenASNErrors).
func TestOpenASNWithoutDescription(t *testing.T) {
	path := filepath.Join("..", "..", "testdata", "mmdb", "test-asn-no-description.mmdb")
	db := openTestASN(t, path)
	if d := db.Info().Description; d != "" {
		t.Errorf("Description = %q, want none", d)
	}
	with := openTestASN(t, testASNPath)
	for _, s := range []string{"127.0.1.1", "127.0.10.9", "66.249.66.1", "::1", "8.8.8.8"} {
		ip := netip.MustParseAddr(s)
		got, ok, err := db.LookupErr(ip)
		want, wantOK := with.Lookup(ip)
		if err != nil || ok != wantOK || got != want {
			t.Errorf("%s: %v %v %v, want %v %v", s, got, ok, err, want, wantOK)
		}
	}
	// A corrupt record is still found at open time without a description.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	org := []byte("Hetzner Online GmbH")
	i := bytes.Index(data, org)
	data[i-1] = 0x40 | 31
	if _, err := openASNBytes(path, data, true); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Errorf("corrupt database without a description: %v, want a corrupt-file error", err)
	}
}

// TestASNCacheAgainstReader checks the block cache against the database itself: for every
// network of MaxMind's test database (from /8 down to /32, many narrower than a /24 and
// sharing one with others) and the addresses just outside it, looked up in two orders so that
// a block is cached by one address before another of it is asked, Lookup answers what a walk
// of the search tree answers.
func TestASNCacheAgainstReader(t *testing.T) {
	data, err := os.ReadFile(sharedData(t, "maxmind-test", "GeoLite2-ASN-Test.json"))
	if err != nil {
		t.Fatal(err)
	}
	var networks []map[string]json.RawMessage
	if err := json.Unmarshal(data, &networks); err != nil {
		t.Fatal(err)
	}
	var addrs []netip.Addr
	for _, n := range networks {
		for cidr := range n {
			p := netip.MustParsePrefix(cidr)
			first, last := p.Masked().Addr(), lastAddr(p)
			addrs = append(addrs, first, last, first.Prev(), last.Next())
		}
	}
	reference := func(db *ASNDB, ip netip.Addr) (ASN, bool) {
		res := db.reader.Lookup(ip.Unmap())
		var rec asnRecord
		if !res.Found() || res.Decode(&rec) != nil || rec.Number == 0 {
			return ASN{}, false
		}
		return ASN(rec), true
	}
	cached := 0
	for _, reverse := range []bool{false, true} {
		db := openTestASN(t, sharedData(t, "maxmind-test", "GeoLite2-ASN-Test.mmdb"))
		for i := range addrs {
			ip := addrs[i]
			if reverse {
				ip = addrs[len(addrs)-1-i]
			}
			if !ip.IsValid() {
				continue
			}
			for range 2 { // the second time from the cache, when the block is cacheable
				got, ok := db.Lookup(ip)
				if want, wantOK := reference(db, ip); got != want || ok != wantOK {
					t.Fatalf("Lookup(%s) = %v, %v; the database says %v, %v", ip, got, ok, want, wantOK)
				}
			}
		}
		for i := range db.cache.shards {
			cached += len(db.cache.shards[i].m)
		}
	}
	if cached == 0 {
		t.Error("nothing was cached: the test says nothing of the cache")
	}
}
