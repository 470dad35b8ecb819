package main

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

func TestRangeToPrefixes(t *testing.T) {
	for _, tc := range []struct{ first, last, want string }{
		{"192.0.2.0", "192.0.2.255", "[192.0.2.0/24]"},
		{"192.0.2.1", "192.0.2.6", "[192.0.2.1/32 192.0.2.2/31 192.0.2.4/31 192.0.2.6/32]"},
		{"0.0.0.0", "255.255.255.255", "[0.0.0.0/0]"},
		{"255.255.255.254", "255.255.255.255", "[255.255.255.254/31]"},
		{"2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "[2001:db8::/32]"},
		{"2001:db8::", "2001:db8:1:ffff:ffff:ffff:ffff:ffff", "[2001:db8::/47]"},
	} {
		got := fmt.Sprint(rangeToPrefixes(netip.MustParseAddr(tc.first), netip.MustParseAddr(tc.last)))
		if got != tc.want {
			t.Errorf("%s-%s: %s, want %s", tc.first, tc.last, got, tc.want)
		}
	}
}

// TestHostingFromCSV runs the generator's steps on a few lines of the package's format: only
// listed AS numbers are kept, touching ranges merge, the header names source and licence.
func TestHostingFromCSV(t *testing.T) {
	listed, err := hostingASNs([]byte(`rules:
  - name: hosting-x
    bot: hosting:x
    match: {asn: [64500, AS64501]}
  - name: not-hosting
    bot: other
    match: {asn: [64502]}
`))
	if err != nil || len(listed) != 2 {
		t.Fatalf("hostingASNs: %v %v", listed, err)
	}
	nets := map[uint32]*asNetworks{}
	csv := `192.0.2.0,192.0.2.127,64500,"Example, Inc."
192.0.2.128,192.0.2.255,64500,"Example, Inc."
198.51.100.0,198.51.100.255,64502,Not listed
2001:db8::,2001:db8:ffff:ffff:ffff:ffff:ffff:ffff,64501,Other
`
	if err := readASNCSV(strings.NewReader(csv), listed, nets); err != nil {
		t.Fatal(err)
	}
	out := string(renderHosting("@ip-location-db/asn", "2.3.2026061719", listed, nets))
	for _, want := range []string{"snapshot of 2026-06-17", "CC BY 4.0", "RouteViews", "DB-IP",
		"\nAS64500 Example, Inc.  # hosting:x\n192.0.2.0/24\n", "\nAS64501 Other  # hosting:x\n2001:db8::/32\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "198.51.100") {
		t.Errorf("an unlisted AS's range is in the output:\n%s", out)
	}
	if err := readASNCSV(strings.NewReader("192.0.2.9,192.0.2.1,64500,X\n"), listed, nets); err == nil {
		t.Error("a range whose end is before its start was accepted")
	}
}
