package harness

import (
	"fmt"
	"net"
	"os"
	"time"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// WriteASNDB writes a GeoLite2-ASN-shaped database of nets to path (as
// testdata/mmdb/gen does for the tests). The output is deterministic.
func WriteASNDB(path string, nets []Network) error {
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType:            "GeoLite2-ASN",
		Description:             map[string]string{"en": "floodgate-bench ASN database (generated; public-looking prefixes used as data only)"},
		Languages:               []string{"en"},
		IPVersion:               6,
		RecordSize:              24,
		IncludeReservedNetworks: true,
		BuildEpoch:              time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC).Unix(),
	})
	if err != nil {
		return fmt.Errorf("new ASN database: %w", err)
	}
	for _, n := range nets {
		_, ipnet, err := net.ParseCIDR(n.Prefix.String())
		if err != nil {
			return fmt.Errorf("network %s: %w", n.Prefix, err)
		}
		rec := mmdbtype.Map{
			"autonomous_system_number":       mmdbtype.Uint32(n.ASN),
			"autonomous_system_organization": mmdbtype.String(n.Org),
		}
		if err := tree.Insert(ipnet, rec); err != nil {
			return fmt.Errorf("inserting %s: %w", n.Prefix, err)
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("ASN database: %w", err)
	}
	if _, err := tree.WriteTo(f); err != nil {
		_ = f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Close()
}
