package main

// The "hosting" generator writes rules/ranges/asn/hosting.txt: the address prefixes of every
// AS number that 40-hosting-networks.yaml lists, so that its asn rules match with no ASN
// database. The prefixes come from the npm package @ip-location-db/asn (RouteViews, the five
// RIRs' data via NRO, and DB-IP's IP to ASN Lite; CC BY 4.0):
//
//	cd /tmp && npm pack @ip-location-db/asn && tar xzf ip-location-db-asn-*.tgz
//	go run ./rules/gen hosting -asn /tmp/package
//
// Only the listed AS numbers are kept; each AS's ranges are merged where they touch and
// written as the fewest CIDR prefixes, IPv4 then IPv6.

import (
	"bytes"
	"cmp"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// The hosting generator is a subcommand, dispatched before main's flags are parsed.
func init() {
	if len(os.Args) > 1 && os.Args[1] == "hosting" {
		if err := hostingMain(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "gen hosting:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
}

func hostingMain(args []string) error {
	fs := flag.NewFlagSet("gen hosting", flag.ContinueOnError)
	pkg := fs.String("asn", "", "folder of the unpacked npm package @ip-location-db/asn (asn-ipv4.csv, asn-ipv6.csv, package.json)")
	rulesFile := fs.String("rules", "rules/40-hosting-networks.yaml", "rule file whose asn lists to cover")
	out := fs.String("out", "rules/ranges/asn/hosting.txt", "prefix list to write (its LICENSE is written beside it)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *pkg == "" {
		return errors.New("-asn FOLDER is required (npm pack @ip-location-db/asn, then unpack it)")
	}
	ruleYAML, err := os.ReadFile(*rulesFile)
	if err != nil {
		return err
	}
	listed, err := hostingASNs(ruleYAML)
	if err != nil {
		return fmt.Errorf("%s: %w", *rulesFile, err)
	}
	meta, err := os.ReadFile(filepath.Join(*pkg, "package.json"))
	if err != nil {
		return err
	}
	var pj struct{ Name, Version string }
	if err := json.Unmarshal(meta, &pj); err != nil {
		return fmt.Errorf("package.json: %w", err)
	}
	nets := map[uint32]*asNetworks{}
	for _, f := range []string{"asn-ipv4.csv", "asn-ipv6.csv"} {
		r, err := os.Open(filepath.Join(*pkg, f))
		if err != nil {
			return err
		}
		err = readASNCSV(r, listed, nets)
		r.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
	}
	text := renderHosting(pj.Name, pj.Version, listed, nets)
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(*out, text, 0o644); err != nil {
		return err
	}
	var lic bytes.Buffer
	for _, f := range []string{"ROUTEVIEWS-LICENSE", "NRO_LICENSE", "DBIP-LICENSE", "MODIFICATIONS"} {
		b, err := os.ReadFile(filepath.Join(*pkg, f))
		if err != nil {
			return err
		}
		fmt.Fprintf(&lic, "== %s (from the npm package %s %s)\n\n%s\n\n", f, pj.Name, pj.Version, bytes.TrimSpace(b))
	}
	return os.WriteFile(filepath.Join(filepath.Dir(*out), "LICENSE"), lic.Bytes(), 0o644)
}

// listedAS is an AS number a hosting rule lists.
type listedAS struct {
	number uint32
	bot    string // the rule's bot, e.g. hosting:aws
}

// hostingASNs returns the AS numbers of the rules whose bot starts with "hosting:", in order.
func hostingASNs(ruleYAML []byte) ([]listedAS, error) {
	var file struct {
		Rules []struct {
			Bot   string `yaml:"bot"`
			Match struct {
				ASN []string `yaml:"asn"`
			} `yaml:"match"`
		} `yaml:"rules"`
	}
	if err := yaml.Unmarshal(ruleYAML, &file); err != nil {
		return nil, err
	}
	var out []listedAS
	seen := map[uint32]bool{}
	for _, r := range file.Rules {
		if !strings.HasPrefix(r.Bot, "hosting:") {
			continue
		}
		for _, a := range r.Match.ASN {
			n, err := strconv.ParseUint(strings.TrimPrefix(strings.ToUpper(a), "AS"), 10, 32)
			if err != nil {
				return nil, fmt.Errorf("bot %s: asn %q is not a number", r.Bot, a)
			}
			if !seen[uint32(n)] {
				seen[uint32(n)] = true
				out = append(out, listedAS{uint32(n), r.Bot})
			}
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no rule with a hosting: bot lists an asn")
	}
	return out, nil
}

// asNetworks is one AS's organisation and address ranges.
type asNetworks struct {
	org    string
	ranges [][2]netip.Addr
}

// readASNCSV reads "first,last,asn,org" lines and keeps those of the listed AS numbers.
func readASNCSV(r io.Reader, listed []listedAS, nets map[uint32]*asNetworks) error {
	want := map[uint32]bool{}
	for _, l := range listed {
		want[l.number] = true
	}
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = 4
	cr.ReuseRecord = true
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		n, err := strconv.ParseUint(rec[2], 10, 32)
		if err != nil {
			line, _ := cr.FieldPos(2)
			return fmt.Errorf("line %d: asn %q is not a number", line, rec[2])
		}
		if !want[uint32(n)] {
			continue
		}
		first, err1 := netip.ParseAddr(rec[0])
		last, err2 := netip.ParseAddr(rec[1])
		if err := errors.Join(err1, err2); err != nil || first.Is4() != last.Is4() || last.Less(first) {
			line, _ := cr.FieldPos(0)
			return fmt.Errorf("line %d: %q - %q is not an address range", line, rec[0], rec[1])
		}
		a := nets[uint32(n)]
		if a == nil {
			a = &asNetworks{}
			nets[uint32(n)] = a
		}
		if a.org == "" {
			a.org = rec[3]
		}
		a.ranges = append(a.ranges, [2]netip.Addr{first, last})
	}
}

// mergeRanges sorts ranges and merges those that overlap or touch.
func mergeRanges(rs [][2]netip.Addr) [][2]netip.Addr {
	slices.SortFunc(rs, func(a, b [2]netip.Addr) int { return a[0].Compare(b[0]) })
	var out [][2]netip.Addr
	for _, r := range rs {
		if n := len(out); n > 0 && out[n-1][0].Is4() == r[0].Is4() {
			last := &out[n-1]
			if next := last[1].Next(); r[0].Compare(last[1]) <= 0 || (next.IsValid() && r[0] == next) {
				if r[1].Compare(last[1]) > 0 {
					last[1] = r[1]
				}
				continue
			}
		}
		out = append(out, r)
	}
	return out
}

// rangeToPrefixes splits first..last into the fewest CIDR prefixes.
func rangeToPrefixes(first, last netip.Addr) []netip.Prefix {
	var out []netip.Prefix
	for first.IsValid() && first.Compare(last) <= 0 {
		bits := first.BitLen()
		// The shortest prefix that starts at first and ends at or before last.
		for bits > 0 {
			p := netip.PrefixFrom(first, bits-1)
			if p.Masked().Addr() != first || prefixLast(p).Compare(last) > 0 {
				break
			}
			bits--
		}
		p := netip.PrefixFrom(first, bits)
		out = append(out, p)
		first = prefixLast(p).Next()
	}
	return out
}

// prefixLast returns the last address of a masked prefix.
func prefixLast(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// renderHosting writes the prefix list: a header with the source and its attribution, then
// per AS (in the rule file's order) an "AS<number> <org>" line and its prefixes.
func renderHosting(pkgName, pkgVersion string, listed []listedAS, nets map[uint32]*asNetworks) []byte {
	var b bytes.Buffer
	snapshot := pkgVersion
	if parts := strings.Split(pkgVersion, "."); len(parts) == 3 && len(parts[2]) >= 8 {
		d := parts[2]
		snapshot = d[:4] + "-" + d[4:6] + "-" + d[6:8]
	}
	total := 0
	for _, a := range nets {
		for _, r := range mergeRanges(a.ranges) {
			total += len(rangeToPrefixes(r[0], r[1]))
		}
	}
	fmt.Fprintf(&b, `# Address prefixes of the AS numbers listed in 40-hosting-networks.yaml, so that its asn rules
# match when no ASN database is configured (an ASN database, when given, is used instead).
#
# Source: the npm package %s %s (snapshot of %s), built from RouteViews
# (routeviews.org), the five RIRs' data (NRO, nro.net) and DB-IP's IP to ASN Lite (db-ip.com).
# Licence: CC BY 4.0 — IP to ASN data by RouteViews, NRO and DB-IP.com; see LICENSE beside this
# file. Generated by: go run ./rules/gen hosting -asn <unpacked package> (see rules/gen/hosting.go).
# %d AS numbers, %d prefixes (each AS's ranges merged, then as few CIDRs as possible).
#
# Format: "AS<number> <organisation>" starts an AS; the CIDR lines below it are its prefixes.
# Refresh: regenerate, or edit an exported copy (floodgate rules export) by hand.
`, pkgName, pkgVersion, snapshot, len(nets), total)
	for _, l := range listed {
		a := nets[l.number]
		if a == nil {
			fmt.Fprintf(&b, "\n# AS%d (%s): no prefixes in this snapshot\n", l.number, l.bot)
			continue
		}
		fmt.Fprintf(&b, "\nAS%d %s  # %s\n", l.number, strings.ReplaceAll(a.org, "#", ""), l.bot)
		merged := mergeRanges(a.ranges)
		slices.SortStableFunc(merged, func(x, y [2]netip.Addr) int {
			return cmp.Compare(x[0].BitLen(), y[0].BitLen())
		})
		for _, r := range merged {
			for _, p := range rangeToPrefixes(r[0], r[1]) {
				b.WriteString(p.String())
				b.WriteByte('\n')
			}
		}
	}
	return b.Bytes()
}
