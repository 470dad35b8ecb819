package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"strings"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/floodgate-proxy/floodgate/internal/classify"
	"github.com/floodgate-proxy/floodgate/internal/network"
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

A line is either a JSON object with any of the fields ip, ua, host, method, path, query,
headers (an object of request headers: Accept-Language, Sec-Fetch-Mode, Sec-Fetch-Site...)
and tls (true: the request came over HTTPS), or a bare User-Agent string. The output also says
outdated (a browser version no person runs any more) and, when headers were given,
headers_inconsistent (a claimed Chrome, Firefox or Safari lacking headers it always sends).
A claimed search engine that verifies addresses says verified: true or false; without an ip
it is unverified (verified: false), from an address outside its ranges an impostor. Example:

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
				if err := classifyStream(cl, os.Stdin, c.OutOrStdout()); err != nil {
					fmt.Fprintln(c.ErrOrStderr(), err)
					os.Exit(1)
				}
				return nil
			}
		},
	})
}

func newClassifier(ruleFiles []string, asnDB string, lens network.PrefixLengths) (*classify.Classifier, error) {
	if err := lens.Valid(); err != nil {
		return nil, err
	}
	set, err := rulefiles.Load(ruleFiles...)
	if err != nil {
		return nil, err
	}
	var asn classify.ASNLookup
	if asnDB != "" {
		db, err := network.OpenASN(asnDB)
		if err != nil {
			return nil, err
		}
		asn = db
	}
	return classify.New(set, asn, lens), nil
}

// classifyInput is one input line in its JSON form.
type classifyInput struct {
	IP     string `json:"ip"`
	UA     string `json:"ua"`
	Host   string `json:"host"`
	Method string `json:"method"`
	Path   string `json:"path"`
	Query  string `json:"query"`
	// Headers are request headers by name (any case); only those classify reads matter.
	Headers map[string]string `json:"headers"`
	// TLS says the request came over HTTPS (browsers send Sec-Fetch-* only then).
	TLS bool `json:"tls"`
}

// headerFlags turns the input's headers into classify's flags; zero when none were given.
func (in *classifyInput) headerFlags() classify.HeaderFlags {
	if in.Headers == nil {
		return 0
	}
	h := http.Header{}
	for name, v := range in.Headers {
		h.Set(name, strings.TrimSpace(v))
	}
	return classify.HeaderFlagsOf(h, in.TLS)
}

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

func classifyStream(cl *classify.Classifier, in io.Reader, out io.Writer) error {
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
				o.Error = fmt.Sprintf("line %d: not a JSON object of ip, ua, host, method, path, query, headers, tls: %v", lineNo, err)
				if err := enc.Encode(o); err != nil {
					return err
				}
				continue
			}
		} else {
			inp.UA = line
		}
		req := classify.Request{UserAgent: inp.UA, Host: strings.ToLower(inp.Host), Method: strings.ToUpper(inp.Method),
			Path: inp.Path, Query: inp.Query, Headers: inp.headerFlags()}
		if req.Method == "" {
			req.Method = "GET"
		}
		if req.Path == "" {
			req.Path = "/"
		}
		if inp.IP != "" {
			ip, err := netip.ParseAddr(inp.IP)
			if err != nil {
				o.Error = fmt.Sprintf("line %d: ip %q is not an IP address", lineNo, inp.IP)
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
			if r != res.IdentityRule {
				o.Rules = append(o.Rules, r.Name)
			}
		}
		if err := enc.Encode(o); err != nil {
			return err
		}
	}
	return sc.Err()
}
