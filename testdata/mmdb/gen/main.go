// Command gen writes testdata/mmdb/test-asn.mmdb, a small GeoLite2-ASN-shaped
// database used by floodgate's tests. Run it from the repository root:
//
//	go run ./testdata/mmdb/gen
//
// The output is deterministic (fixed build epoch), so regenerating without
// changing the table below gives a byte-identical file.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// entry is one network of the test database.
type entry struct {
	network string
	asn     uint32
	org     string
}

// entries is the content of test-asn.mmdb; keep testdata/mmdb/README.md in
// sync when changing it.
var entries = []entry{
	// Loopback networks: what the end-to-end tests send traffic from.
	{"127.0.1.0/24", 16509, "AMAZON-02"},
	{"127.0.2.0/24", 15169, "GOOGLE"},
	{"127.0.3.0/24", 8075, "MICROSOFT-CORP-MSN-AS-BLOCK"},
	{"127.0.4.0/24", 24940, "Hetzner Online GmbH"},
	{"127.0.10.0/24", 3215, "Orange"},       // residential
	{"127.0.11.0/24", 7922, "COMCAST-7922"}, // residential
	{"::1/128", 3215, "Orange"},
	// Public-looking networks, for classification tests that feed client
	// addresses through data (e.g. X-Forwarded-For behind trusted proxies).
	{"66.249.64.0/19", 15169, "GOOGLE"},
	{"20.0.0.0/11", 8075, "MICROSOFT-CORP-MSN-AS-BLOCK"},
	{"3.0.0.0/9", 16509, "AMAZON-02"},
	{"90.0.0.0/9", 3215, "Orange"},
}

// buildEpoch is fixed so that the generated file is reproducible.
var buildEpoch = time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC).Unix()

func main() {
	out := flag.String("o", filepath.Join("testdata", "mmdb", "test-asn.mmdb"), "output file")
	noDesc := flag.String("o-no-description", filepath.Join("testdata", "mmdb", "test-asn-no-description.mmdb"),
		"output file of the same database without a description (as ip-location-db's converter writes them)")
	flag.Parse()
	if err := write(*out, true); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	if err := write(*noDesc, false); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

// write writes the database to path, with or without its (optional) description.
func write(path string, description bool) error {
	var desc map[string]string
	var langs []string
	if description {
		desc = map[string]string{
			"en": "floodgate test ASN database (loopback and a few public-looking networks); see testdata/mmdb/README.md",
		}
		langs = []string{"en"}
	}
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType:            "GeoLite2-ASN",
		Description:             desc,
		Languages:               langs,
		IPVersion:               6,
		RecordSize:              24,
		IncludeReservedNetworks: true,
		BuildEpoch:              buildEpoch,
	})
	if err != nil {
		return fmt.Errorf("new tree: %w", err)
	}
	for _, e := range entries {
		_, network, err := net.ParseCIDR(e.network)
		if err != nil {
			return fmt.Errorf("entry %q: %w", e.network, err)
		}
		record := mmdbtype.Map{
			"autonomous_system_number":       mmdbtype.Uint32(e.asn),
			"autonomous_system_organization": mmdbtype.String(e.org),
		}
		if err := tree.Insert(network, record); err != nil {
			return fmt.Errorf("insert %s: %w", e.network, err)
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := tree.WriteTo(f); err != nil {
		_ = f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}
