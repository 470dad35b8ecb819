package harness

import (
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/oschwald/maxminddb-golang/v2"
)

func TestWriteASNDB(t *testing.T) {
	path := filepath.Join(t.TempDir(), "asn.mmdb")
	if err := WriteASNDB(path, Networks); err != nil {
		t.Fatal(err)
	}
	db, err := maxminddb.Open(path)
	if err != nil {
		t.Fatalf("opening the generated database: %v", err)
	}
	defer db.Close()
	if db.Metadata.DatabaseType != "GeoLite2-ASN" {
		t.Errorf("database type %q, want GeoLite2-ASN", db.Metadata.DatabaseType)
	}
	type rec struct {
		ASN uint32 `maxminddb:"autonomous_system_number"`
		Org string `maxminddb:"autonomous_system_organization"`
	}
	tests := []struct {
		ip    string
		asn   uint32
		found bool
	}{
		{"90.12.34.56", 3215, true},
		{"73.1.2.3", 7922, true},
		{"3.5.6.7", 16509, true},
		{"20.1.1.1", 8075, true},
		{"66.249.66.1", 15169, true},
		{"127.0.0.1", 0, false}, // loopback is not in the database: no real traffic is labelled
		{"8.8.8.8", 0, false},
	}
	for _, tt := range tests {
		var r rec
		res := db.Lookup(netip.MustParseAddr(tt.ip))
		if err := res.Decode(&r); err != nil {
			t.Fatalf("%s: %v", tt.ip, err)
		}
		if res.Found() != tt.found || r.ASN != tt.asn {
			t.Errorf("%s: found %v ASN %d, want found %v ASN %d", tt.ip, res.Found(), r.ASN, tt.found, tt.asn)
		}
	}
	if err := WriteASNDB(filepath.Join(t.TempDir(), "missing-dir", "x.mmdb"), Networks); err == nil {
		t.Error("writing into a missing directory succeeded")
	}
}
