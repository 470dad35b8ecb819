package command

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strings"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/floodgate-proxy/floodgate/internal/classify"
	"github.com/floodgate-proxy/floodgate/internal/explain"
	"github.com/floodgate-proxy/floodgate/internal/network"
	"github.com/floodgate-proxy/floodgate/internal/normalize"
	"github.com/floodgate-proxy/floodgate/internal/rules"
	"github.com/floodgate-proxy/floodgate/rules"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "classify",
		Usage: "[--rules <file|shipped>...] [--asn-db <file.mmdb>]",
		Short: "Classifies requests read on stdin, one JSON line out per line in",
		Long: `
'classify' reads lines on standard input and writes one JSON object per line on standard output
saying who floodgate thinks is asking: class, bot, rule, asn, as_org, prefix (and verified or
impostor for rules that verify addresses). It counts nothing and refuses nothing.

A line is either a JSON object with any of the fields ip, ua, host, method, path, query, status,
headers (an object of request headers: Accept-Language, Sec-Fetch-Mode, Sec-Fetch-Site...)
and tls (true: the request came over HTTPS), or a bare User-Agent string. The output also says
outdated (a browser version no person runs any more) and, when headers were given,
headers_inconsistent (a claimed Chrome, Firefox or Safari lacking headers it always sends).
A claimed search engine that verifies addresses says verified: true or false; without an ip
it is unverified (verified: false), from an address outside its ranges an impostor. Rules that
count responses (match: status, e.g. not-found-flood) are listed only for a line whose status
they match. A line that cannot be read gets an "error" field and the command exits with
status 1 once every line is done. Example:

  echo '{"ip":"66.249.66.1","ua":"Mozilla/5.0 (compatible; Googlebot/2.1)"}' | floodgate classify
  echo '{"ua":"Mozilla/5.0 ... Chrome/128.0.0.0 Safari/537.36","tls":true,"headers":{"Accept-Language":"fr"}}' | floodgate classify
  cut -d'"' -f6 access.log | floodgate classify --asn-db GeoLite2-ASN.mmdb | jq -r .class | sort | uniq -c`,
		CobraFunc: func(cmd *cobra.Command) {
			var ruleFiles []string
			var asnDB string
			var v4, v6 int
			cmd.Flags().StringSliceVar(&ruleFiles, "rules", []string{rulefiles.Shipped}, "rule files, in load order (\"shipped\" = the built-in ones)")
			cmd.Flags().StringVar(&asnDB, "asn-db", "", "MaxMind-format ASN database (.mmdb)")
			cmd.Flags().IntVar(&v4, "prefix-v4", 24, "IPv4 network prefix length")
			cmd.Flags().IntVar(&v6, "prefix-v6", 64, "IPv6 network prefix length")
			cmd.RunE = func(c *cobra.Command, _ []string) error {
				cl, err := newClassifier(ruleFiles, asnDB, network.PrefixLengths{V4: v4, V6: v6})
				if err != nil {
					fmt.Fprintln(c.ErrOrStderr(), err)
					os.Exit(1)
				}
				bad, err := classifyStream(cl, os.Stdin, c.OutOrStdout())
				if err != nil {
					fmt.Fprintln(c.ErrOrStderr(), err)
					os.Exit(1)
				}
				if bad > 0 {
					fmt.Fprintf(c.ErrOrStderr(), "classify: %d input lines could not be read (their output line has an \"error\" field)\n", bad)
					os.Exit(1)
				}
				return nil
			}
		},
	})
}

func newClassifier(ruleFiles []string, asnDB string, lens network.PrefixLengths) (*classify.Classifier, error) {
	p, err := newClassifierParts(ruleFiles, asnDB, lens)
	if err != nil {
		return nil, err
	}
	return classify.New(p.set, p.asn, lens), nil
}

// classifierParts are what a classifier is built from, as floodgate would load them.
type classifierParts struct {
	set *rules.Set
	asn classify.ASNLookup
}

// newClassifierParts loads rule files and the ASN database; without a database, the AS
// numbers of the hosting networks come from the prefix lists that go with the rule files.
func newClassifierParts(ruleFiles []string, asnDB string, lens network.PrefixLengths) (classifierParts, error) {
	if err := lens.Valid(); err != nil {
		return classifierParts{}, err
	}
	set, err := rulefiles.Load(ruleFiles...)
	if err != nil {
		return classifierParts{}, err
	}
	p := classifierParts{set: set}
	if asnDB != "" {
		db, err := network.OpenASN(asnDB)
		if err != nil {
			return classifierParts{}, err
		}
		p.asn = db
	} else if prefixes, _, err := rulefiles.ASNPrefixes(ruleFiles...); err != nil {
		return classifierParts{}, err
	} else if prefixes != nil {
		p.asn = prefixes // no database: the hosting networks' prefix lists
	}
	return p, nil
}

// classifyInput is one input line in its JSON form (the form explain reads too).
type classifyInput = explain.Input

// classifyOutput is one output line.
type classifyOutput struct {
	Class  string `json:"class"`
	Bot    string `json:"bot"`
	Rule   string `json:"rule"`
	ASN    uint32 `json:"asn"`
	ASOrg  string `json:"as_org"`
	Prefix string `json:"prefix"`
	IP     string `json:"ip,omitempty"`
	UA     string `json:"ua"`
	// Verified is given for rules that verify addresses: true inside their ranges, false
	// outside them or without an address.
	Verified            *bool    `json:"verified,omitempty"`
	Impostor            bool     `json:"impostor,omitempty"`
	Outdated            bool     `json:"outdated,omitempty"`
	HeadersInconsistent bool     `json:"headers_inconsistent,omitempty"`
	Rules               []string `json:"rules,omitempty"`
	Error               string   `json:"error,omitempty"`
}

// classifyStream classifies every line of in and writes one JSON line per line to out. It
// returns how many lines could not be read (each still gets an output line, with "error").
func classifyStream(cl *classify.Classifier, in io.Reader, out io.Writer) (bad int, err error) {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	bw := bufio.NewWriterSize(out, 64*1024)
	defer bw.Flush()
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	var res classify.Result
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := strings.TrimSpace(sc.Text())
		var inp classifyInput
		var o classifyOutput
		if strings.HasPrefix(line, "{") {
			if err := json.Unmarshal([]byte(line), &inp); err != nil {
				o.Error = fmt.Sprintf("line %d: not a JSON object of ip, ua, host, method, path, query, status, headers, tls: %v", lineNo, err)
				bad++
				if err := enc.Encode(o); err != nil {
					return bad, err
				}
				continue
			}
		} else {
			inp.UA = line
		}
		req := classify.Request{UserAgent: inp.UA, Method: strings.ToUpper(inp.Method), Query: inp.Query, Headers: inp.HeaderFlags()}
		if req.Method == "" {
			req.Method = "GET"
		}
		// The same normalised view the proxy uses: the path as the backend resolves it (an
		// access log's path is as sent: decode it once, as net/http does), the host as a
		// virtual host resolves it.
		path, err := url.PathUnescape(inp.Path)
		if err != nil {
			path = inp.Path
		}
		view := normalize.Of(inp.Host, path)
		req.Path = view.Script
		if inp.Host != "" {
			req.Host = view.Host
		}
		if inp.IP != "" {
			ip, err := netip.ParseAddr(inp.IP)
			if err != nil {
				o.Error = fmt.Sprintf("line %d: ip %q is not an IP address", lineNo, inp.IP)
				bad++
			} else {
				req.IP = ip.Unmap()
				o.IP = req.IP.String()
			}
		}
		cl.Classify(&req, &res)
		o.Class, o.Bot, o.Rule, o.ASN, o.ASOrg = res.Class, res.Bot, res.Rule, res.ASN, res.ASOrg
		o.UA, o.Impostor = inp.UA, res.Impostor
		o.Outdated, o.HeadersInconsistent = res.Outdated, res.HeadersInconsistent
		if res.IdentityRule != nil && len(res.IdentityRule.VerifySets) > 0 {
			v := res.Verified
			o.Verified = &v
		}
		if res.Prefix.IsValid() {
			o.Prefix = res.Prefix.String()
		}
		for _, r := range res.Rules {
			if r == res.IdentityRule || (r.IsResponse() && !slices.Contains(r.Match.Status, inp.Status)) {
				continue // a response rule applies to a response with its status only
			}
			o.Rules = append(o.Rules, r.Name)
		}
		if err := enc.Encode(o); err != nil {
			return bad, err
		}
	}
	return bad, sc.Err()
}
