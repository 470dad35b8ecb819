package rules

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// parser walks a YAML node tree, collecting every problem with its line.
type parser struct {
	file string
	errs []error
}

func (p *parser) errf(n *yaml.Node, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	p.errs = append(p.errs, &Error{File: p.file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// Error is one problem in a rule file, located by line.
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

// Parse reads one rule file. name is how the file is named in messages. Every problem found
// is returned, joined, each as an *Error.
func Parse(name string, data []byte) (*File, error) {
	p := &parser{file: name}
	f := &File{Name: name}
	if line, ok := invalidUTF8Line(data); !ok {
		return nil, &Error{File: name, Line: line, Msg: "not valid UTF-8 text (expected a YAML file saved as UTF-8)"}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, yamlError(name, data, err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, &Error{File: name, Line: 1, Msg: "the file is empty (expected a mapping with a rules: list)"}
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil, &Error{File: name, Line: root.Line, Msg: "the file holds no settings (expected a mapping with a rules: list)"}
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == nil:
		return nil, &Error{File: name, Line: next.Line, Msg: "a second YAML document begins here ('---'), expected one document per rule file"}
	case !errors.Is(err, io.EOF):
		return nil, yamlError(name, data, err)
	}
	p.mapping(root, "the file", map[string]func(*yaml.Node){
		"shadow":  func(n *yaml.Node) { f.Shadow = p.boolean(n, "shadow") },
		"classes": func(n *yaml.Node) { f.Classes = p.classes(n) },
		"ranges":  func(n *yaml.Node) { f.Ranges = p.ranges(n) },
		"sites":   func(n *yaml.Node) { f.Sites = p.sites(n, f) },
		"rules": func(n *yaml.Node) {
			p.sequence(n, "rules", func(item *yaml.Node) {
				if r := p.rule(item, f); r != nil {
					f.Rules = append(f.Rules, r)
				}
			})
		},
	})
	// shadow: may come after rules: in the file.
	for _, r := range f.Rules {
		r.Shadow = f.Shadow
	}
	return f, errors.Join(p.errs...)
}

// mapping visits the keys of a mapping node, reporting unknown and repeated keys.
func (p *parser) mapping(n *yaml.Node, what string, fields map[string]func(*yaml.Node)) {
	if n.Kind != yaml.MappingNode {
		p.errf(n, "%s is %s, expected a mapping of %s", what, kindName(n), fieldList(fields))
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		fn, ok := fields[k.Value]
		switch {
		case !ok:
			p.errf(k, "unknown field %q in %s, expected one of %s", k.Value, what, fieldList(fields))
		case seen[k.Value]:
			p.errf(k, "field %q given twice in %s (expected each field once)", k.Value, what)
		default:
			seen[k.Value] = true
			fn(v)
		}
	}
}

func (p *parser) sequence(n *yaml.Node, what string, each func(*yaml.Node)) {
	if n.Kind != yaml.SequenceNode {
		p.errf(n, "%s is %s, expected a list", what, kindName(n))
		return
	}
	for _, item := range n.Content {
		each(item)
	}
}

// items reads a list of scalars and returns their nodes, so each entry can be reported at its
// own line; a single scalar is taken as a list of one.
func (p *parser) items(n *yaml.Node, what string) []*yaml.Node {
	if n.Kind == yaml.ScalarNode {
		if n.Tag == "!!null" {
			p.errf(n, "%s has no value, expected a list such as [a, b] or a single value", what)
			return nil
		}
		return []*yaml.Node{n}
	}
	var out []*yaml.Node
	p.sequence(n, what, func(item *yaml.Node) {
		if item.Kind != yaml.ScalarNode {
			p.errf(item, "%s: an entry is %s, expected text", what, kindName(item))
			return
		}
		out = append(out, item)
	})
	return out
}

// strings reads a list of scalars; a single scalar is taken as a list of one.
func (p *parser) strings(n *yaml.Node, what string) []string {
	var out []string
	for _, item := range p.items(n, what) {
		out = append(out, item.Value)
	}
	return out
}

func (p *parser) scalar(n *yaml.Node, what string) string {
	s, _ := p.scalarOK(n, what)
	return s
}

// scalarOK is scalar, also saying whether n was a scalar (a problem is already reported if not).
func (p *parser) scalarOK(n *yaml.Node, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		p.errf(n, "%s is %s, expected text", what, kindName(n))
		return "", false
	}
	return n.Value, true
}

func (p *parser) boolean(n *yaml.Node, what string) bool {
	s, ok := p.scalarOK(n, what)
	if !ok {
		return false
	}
	switch strings.ToLower(s) {
	case "true", "yes", "on":
		return true
	case "false", "no", "off":
		return false
	}
	p.errf(n, "%s is %q, expected true or false", what, n.Value)
	return false
}

func (p *parser) classes(n *yaml.Node) []Class {
	var out []Class
	p.sequence(n, "classes", func(item *yaml.Node) {
		c := Class{Line: item.Line}
		p.mapping(item, "a class", map[string]func(*yaml.Node){
			"name":        func(v *yaml.Node) { c.Name = p.scalar(v, "name") },
			"description": func(v *yaml.Node) { c.Description = p.scalar(v, "description") },
		})
		if item.Kind == yaml.MappingNode && !validName(c.Name) {
			p.errf(item, "a class needs a name of letters, digits, '-' or '_' (got %q)", c.Name)
			return
		}
		out = append(out, c)
	})
	return out
}

func (p *parser) ranges(n *yaml.Node) []*Range {
	if n.Kind != yaml.MappingNode {
		p.errf(n, "ranges is %s, expected a mapping of names to {cidr: [...]} or {files: [...]}", kindName(n))
		return nil
	}
	var out []*Range
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		r := &Range{Name: k.Value, Line: k.Line}
		if !validName(r.Name) {
			p.errf(k, "range name %q: use letters, digits, '-' or '_'", r.Name)
		}
		p.mapping(v, "range "+r.Name, map[string]func(*yaml.Node){
			"source": func(x *yaml.Node) { r.Source = p.scalar(x, "source") },
			"cidr": func(x *yaml.Node) {
				for _, item := range p.items(x, "cidr") {
					if _, err := parsePrefix(item.Value); err != nil {
						p.errf(item, "range %s: %v", r.Name, err)
					}
					r.CIDR = append(r.CIDR, item.Value)
				}
			},
			"files": func(x *yaml.Node) { r.Files = p.strings(x, "files") },
		})
		if v.Kind == yaml.MappingNode && len(r.CIDR) == 0 && len(r.Files) == 0 {
			p.errf(k, "range %s lists no networks (expected cidr: [...] or files: [...])", r.Name)
		}
		out = append(out, r)
	}
	return out
}

func (p *parser) rule(n *yaml.Node, f *File) *Rule {
	r := &Rule{File: f.Name, Line: n.Line, Shadow: f.Shadow, Impostor: ActionBlock, lines: map[string]int{}}
	var actionNode, impostorNode, verifyNode, botNode, nameNode, levelNode *yaml.Node
	matchErrs := false // a match problem is reported already: don't also say it matches everything
	at := func(field string, v *yaml.Node) { r.lines[field] = v.Line }
	p.mapping(n, "a rule", map[string]func(*yaml.Node){
		"name": func(v *yaml.Node) {
			nameNode = v
			r.Name = strings.TrimSpace(p.scalar(v, "name"))
		},
		"description": func(v *yaml.Node) { r.Description = p.scalar(v, "description") },
		"class": func(v *yaml.Node) {
			at("class", v)
			r.Class = p.scalar(v, "class")
		},
		"bot": func(v *yaml.Node) {
			botNode = v
			r.Bot = p.scalar(v, "bot")
		},
		"match": func(v *yaml.Node) {
			before := len(p.errs)
			p.match(v, &r.Match, r.lines)
			matchErrs = len(p.errs) > before
		},
		"verify": func(v *yaml.Node) {
			verifyNode = v
			at("verify", v)
			r.Verify = p.strings(v, "verify")
		},
		"impostor": func(v *yaml.Node) {
			impostorNode = v
			r.Impostor = p.action(v, "impostor", ActionBlock, ActionThrottle, ActionLog)
		},
		"action": func(v *yaml.Node) {
			actionNode = v
			r.Action = p.action(v, "action", ActionAllow, ActionChallenge, ActionBlock)
		},
		"challenge_level": func(v *yaml.Node) {
			levelNode = v
			r.ChallengeLevel = p.challengeLevel(v)
		},
		"budgets": func(v *yaml.Node) {
			p.sequence(v, "budgets", func(item *yaml.Node) {
				if b := p.budget(item); b != nil {
					r.Budgets = append(r.Budgets, b)
				}
			})
		},
	})
	if n.Kind != yaml.MappingNode {
		return nil
	}
	if r.Name == "" {
		if nameNode == nil || nameNode.Kind == yaml.ScalarNode {
			p.errf(n, "a rule has no name (expected name: followed by a unique name)")
		}
		return nil
	}
	if !oneLine(r.Name) {
		p.errf(nameNode, "rule name %q holds a line break or control character, expected one line of text", r.Name)
		return nil
	}
	if !oneLine(r.Bot) {
		p.errf(botNode, "bot %q holds a line break or control character, expected one line of text", r.Bot)
	}
	if r.Class != "" && r.Bot == "" && botNode == nil { // an explicit bot: "" (browsers) stays empty
		r.Bot = r.Name
	}
	if r.Class == "" && len(r.Match.Class) == 0 && !r.Match.any() && !matchErrs {
		p.errf(n, "rule %s has no class and no match: it would apply to every request (expected a class:, or match: conditions)", r.Name)
	}
	if r.Class != "" && len(r.Match.Class) > 0 {
		p.errf(n, "rule %s: match.class is for rules without a class (identity rules decide the class)", r.Name)
	}
	if r.Class == "" && botNode != nil {
		p.errf(botNode, "rule %s: bot names the bot family of an identity rule, yet the rule has no class (expected a class:, or no bot:)", r.Name)
	}
	if verifyNode != nil && r.Class == "" {
		p.errf(verifyNode, "rule %s: verify needs a class (only identity rules are verified)", r.Name)
	}
	if impostorNode != nil && len(r.Verify) == 0 {
		p.errf(impostorNode, "rule %s: impostor is set but there is no verify: list (expected verify: [range names] beside it)", r.Name)
	}
	if levelNode != nil && r.Action != ActionChallenge {
		p.errf(levelNode, "rule %s: challenge_level only applies to action: challenge", r.Name)
	}
	if r.IsResponse() && (r.Class != "" || r.Action != ActionNone || len(r.Budgets) == 0) {
		p.errf(n, "rule %s: match.status counts responses, so the rule needs budgets, and no class: or action: (a response comes too late to decide who asked or to block it)", r.Name)
	}
	if r.Action == ActionChallenge && r.ChallengeLevel == "" {
		r.ChallengeLevel = DefaultChallengeLevel
	}
	if r.Action == ActionAllow && len(r.Budgets) > 0 && actionNode != nil {
		p.errf(actionNode, "rule %s: action allow skips budgets, yet budgets are given (remove one)", r.Name)
	}
	if r.Class == "" && r.Action == ActionNone && len(r.Budgets) == 0 && actionNode == nil {
		p.errf(n, "rule %s does nothing: without a class it needs an action: or budgets:", r.Name)
	}
	return r
}

// oneLine reports whether s holds no line break or other control character, so it can go in
// messages, logs and metric labels as it is.
func oneLine(s string) bool {
	for _, c := range s {
		if unicode.IsControl(c) {
			return false
		}
	}
	return true
}

func (m *Match) any() bool {
	return m.HasUserAgent() || len(m.ASN) > 0 || len(m.CIDR) > 0 || len(m.Ranges) > 0 ||
		len(m.Host) > 0 || len(m.Path) > 0 || len(m.Query) > 0 || len(m.Method) > 0 || len(m.Status) > 0
}

func (p *parser) match(n *yaml.Node, m *Match, lines map[string]int) {
	p.mapping(n, "match", map[string]func(*yaml.Node){
		"user_agent": func(v *yaml.Node) {
			for _, item := range p.items(v, "user_agent") {
				if strings.TrimSpace(item.Value) == "" {
					p.errf(item, "user_agent has an empty entry, which would match everything (use user_agent_empty: true for a missing User-Agent)")
					continue
				}
				m.UserAgent = append(m.UserAgent, item.Value)
			}
		},
		"user_agent_regex": func(v *yaml.Node) {
			for _, item := range p.items(v, "user_agent_regex") {
				s := item.Value
				if _, err := regexp.Compile(s); err != nil {
					p.errf(item, "user_agent_regex '%s' is not a valid RE2 regular expression: %s", s, regexErrMsg(err))
					continue
				}
				re, err := regexp.Compile("(?i)" + s)
				if err != nil {
					p.errf(item, "user_agent_regex '%s' is not a valid RE2 regular expression: %s", s, regexErrMsg(err))
					continue
				}
				m.UserAgentRegex = append(m.UserAgentRegex, re)
			}
		},
		"user_agent_empty": func(v *yaml.Node) { m.UserAgentEmpty = p.boolean(v, "user_agent_empty") },
		"outdated":         func(v *yaml.Node) { m.Outdated = p.boolean(v, "outdated") },
		"asn": func(v *yaml.Node) {
			for _, item := range p.items(v, "asn") {
				s := strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(item.Value)), "AS")
				asn, err := strconv.ParseUint(s, 10, 32)
				if err != nil || asn == 0 {
					p.errf(item, "asn %q is not an AS number (expected e.g. 16509 or AS16509)", item.Value)
					continue
				}
				m.ASN = append(m.ASN, uint32(asn))
			}
		},
		"cidr": func(v *yaml.Node) {
			for _, item := range p.items(v, "cidr") {
				pfx, err := parsePrefix(item.Value)
				if err != nil {
					p.errf(item, "%v", err)
					continue
				}
				m.CIDR = append(m.CIDR, pfx)
			}
		},
		"ranges": func(v *yaml.Node) {
			lines["match.ranges"] = v.Line
			m.Ranges = p.strings(v, "ranges")
		},
		"host": func(v *yaml.Node) {
			for _, item := range p.items(v, "host") {
				if _, err := NewHostSet([]string{item.Value}); err != nil {
					p.errf(item, "%v", err)
					continue
				}
				m.Host = append(m.Host, item.Value)
			}
		},
		"path": func(v *yaml.Node) {
			for _, item := range p.items(v, "path") {
				if _, err := NewPathSet([]string{item.Value}); err != nil {
					p.errf(item, "%v", err)
					continue
				}
				m.Path = append(m.Path, item.Value)
			}
		},
		"query": func(v *yaml.Node) {
			for _, item := range p.items(v, "query") {
				if _, err := NewQueryTest(item.Value); err != nil {
					p.errf(item, "%v", err)
					continue
				}
				m.Query = append(m.Query, item.Value)
			}
		},
		"method": func(v *yaml.Node) {
			for _, item := range p.items(v, "method") {
				s := item.Value
				if s != strings.ToUpper(s) || s == "" || strings.ContainsAny(s, " \t") {
					p.errf(item, "method %q: expected an uppercase HTTP method such as GET or POST", s)
					continue
				}
				m.Method = append(m.Method, s)
			}
		},
		"class": func(v *yaml.Node) {
			lines["match.class"] = v.Line
			m.Class = p.strings(v, "class")
		},
		"status": func(v *yaml.Node) {
			lines["match.status"] = v.Line
			for _, item := range p.items(v, "status") {
				code, err := strconv.Atoi(item.Value)
				if err != nil || code < 100 || code > 599 {
					p.errf(item, "status %q: expected an HTTP status code such as 404", item.Value)
					continue
				}
				m.Status = append(m.Status, code)
			}
		},
	})
}

func (p *parser) budget(n *yaml.Node) *Budget {
	b := &Budget{Line: n.Line, Action: ActionThrottle, Per: []KeyPart{KeyIP}}
	var rateNode, delayNode, levelNode, cooldownNode *yaml.Node
	quarantine := false
	p.mapping(n, "a budget", map[string]func(*yaml.Node){
		"rate": func(v *yaml.Node) {
			rateNode = v
			text, ok := p.scalarOK(v, "rate")
			if !ok {
				return
			}
			r, err := ParseRate(text)
			if err != nil {
				p.errf(v, "%v", err)
			}
			b.Rate = r
		},
		"per": func(v *yaml.Node) {
			if v.Kind != yaml.ScalarNode {
				p.errf(v, "per is %s, expected keys joined by '+' such as bot+host", kindName(v))
				return
			}
			text := v.Value
			b.Per = nil
			for _, s := range strings.Split(text, "+") {
				part := KeyPart(strings.TrimSpace(s))
				if !knownKeyPart(part) {
					p.errf(v, "per: unknown key %q, expected %s, or several joined by '+' (bot+host)", strings.TrimSpace(s), keyPartList())
					continue
				}
				if slices.Contains(b.Per, part) {
					p.errf(v, "per: key %q given twice in %q (expected each key once, as in bot+host)", part, text)
					continue
				}
				b.Per = append(b.Per, part)
			}
		},
		"action": func(v *yaml.Node) {
			if v.Kind == yaml.ScalarNode && v.Value == "quarantine" {
				quarantine = true
				b.Action = ActionThrottle
				return
			}
			b.Action = p.action(v, "budget action", ActionThrottle, ActionBlock, ActionDelay, ActionChallenge, ActionLog, actionQuarantine)
		},
		"cooldown": func(v *yaml.Node) {
			cooldownNode = v
			d, err := time.ParseDuration(p.scalar(v, "cooldown"))
			if err != nil || d < time.Second || d > 7*24*time.Hour {
				p.errf(v, "cooldown %q: expected a duration between 1s and 168h, such as 10m", v.Value)
			}
			b.Quarantine = d
		},
		"challenge_level": func(v *yaml.Node) {
			levelNode = v
			b.ChallengeLevel = p.challengeLevel(v)
		},
		"max_delay": func(v *yaml.Node) {
			delayNode = v
			d, err := time.ParseDuration(p.scalar(v, "max_delay"))
			if err != nil || d < time.Millisecond || d > time.Minute {
				p.errf(v, "max_delay %q: expected a duration between 1ms and 1m, such as 2s", v.Value)
			}
			b.MaxDelay = d
		},
	})
	if n.Kind != yaml.MappingNode {
		return nil
	}
	if rateNode == nil {
		p.errf(n, "a budget needs a rate (expected rate: 60/min)")
		return nil
	}
	if delayNode != nil && b.Action != ActionDelay {
		p.errf(delayNode, "max_delay only applies to action: delay")
	}
	if levelNode != nil && b.Action != ActionChallenge {
		p.errf(levelNode, "challenge_level only applies to action: challenge")
	}
	if b.Action == ActionChallenge && b.ChallengeLevel == "" {
		b.ChallengeLevel = DefaultChallengeLevel
	}
	if cooldownNode != nil && !quarantine {
		p.errf(cooldownNode, "cooldown only applies to action: quarantine")
	}
	if quarantine {
		if b.Quarantine == 0 {
			b.Quarantine = DefaultQuarantine
		}
		if !slices.Contains(b.Per, KeyHost) {
			p.errf(n, "action: quarantine quarantines a site, so the budget must count per host (expected per: host)")
		}
	}
	if b.Action == ActionDelay && b.MaxDelay == 0 {
		b.MaxDelay = DefaultMaxDelay
	}
	parts := make([]string, len(b.Per))
	for i, k := range b.Per {
		parts[i] = string(k)
	}
	b.Label = b.Rate.String() + " per " + strings.Join(parts, "+")
	return b
}

func (p *parser) challengeLevel(n *yaml.Node) string {
	s := p.scalar(n, "challenge_level")
	if slices.Contains(ChallengeLevels, s) {
		return s
	}
	p.errf(n, "challenge_level %q is not known, expected one of %s", s, strings.Join(ChallengeLevels, ", "))
	return ""
}

func (p *parser) action(n *yaml.Node, what string, allowed ...Action) Action {
	s, ok := p.scalarOK(n, what)
	if !ok {
		return ActionNone
	}
	var names []string
	for _, a := range allowed {
		if a.String() == s {
			return a
		}
		names = append(names, a.String())
	}
	p.errf(n, "%s %q is not known here, expected one of %s", what, s, strings.Join(names, ", "))
	return ActionNone
}

func parsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if pfx, err := netip.ParsePrefix(s); err == nil {
		return pfx.Masked(), nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	return netip.Prefix{}, fmt.Errorf("cidr %q is not a network (expected a CIDR such as 192.0.2.0/24 or 2001:db8::/32)", s)
}

func knownKeyPart(k KeyPart) bool {
	for _, p := range keyParts {
		if p == k {
			return true
		}
	}
	return false
}

func keyPartList() string {
	s := make([]string, len(keyParts))
	for i, k := range keyParts {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

func fieldList(fields map[string]func(*yaml.Node)) string {
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// kindName describes what a node is, with its article: "a mapping", "an empty value".
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Value == "" {
			return "an empty value"
		}
		return fmt.Sprintf("a value (%q)", n.Value)
	case yaml.AliasNode:
		return "an alias (*" + n.Value + "; aliases are not supported in rule files)"
	}
	return "nothing"
}

var yamlLineRe = regexp.MustCompile(`line (\d+): `)

// yamlError turns a yaml.v3 syntax error into an *Error with a line and a hint a tech can act on.
func yamlError(name string, data []byte, err error) *Error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	// yaml.v3 leaves the line out when the problem is on the first line.
	line := 1
	if m := yamlLineRe.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = yamlLineRe.ReplaceAllString(msg, "")
	}
	// yaml.v3 counts lines from 0 for parser errors and from 1 for scanner errors.
	if strings.HasPrefix(msg, "did not find expected") && strings.Contains(err.Error(), "line ") {
		line++
	}
	lines := strings.Split(string(data), "\n")
	switch {
	case strings.Contains(msg, "tab character") || strings.Contains(msg, "found character that cannot start any token") && firstTabIndent(lines) > 0:
		if l := firstTabIndent(lines); l > 0 {
			line = l
		}
		msg = "a tab indents this line, expected spaces (YAML indents with spaces only)"
	case strings.Contains(msg, "found unexpected end of stream"):
		if open, quote, ok := unclosedQuote(lines); ok {
			line = open
			msg = fmt.Sprintf("the text quoted with %c here is never closed, expected a closing %c on the same value", quote, quote)
		} else {
			msg = "the file ends inside an unfinished value, expected every quote, [ and { to be closed"
		}
	case strings.Contains(msg, "mapping values are not allowed in this context"):
		msg = "a second ': ' on one line, expected one key: value per line (quote a value that holds ': ')"
	case strings.Contains(msg, "did not find expected ',' or ']'"):
		msg = "a [ list is not closed, expected entries separated by ',' and a closing ]"
	case strings.Contains(msg, "did not find expected ',' or '}'"):
		msg = "a { mapping is not closed, expected entries separated by ',' and a closing }"
	case strings.Contains(msg, "did not find expected key") || strings.Contains(msg, "did not find expected '-' indicator"):
		if l := badDedent(lines); l > 0 {
			line = l
		}
		msg = "this line is indented differently from the lines above it, expected it to line up with the field or list item it belongs to"
	default:
		msg += " (expected YAML indented with spaces: key: value pairs and '- ' list items)"
	}
	if line > len(lines) {
		line = len(lines)
	}
	return &Error{File: name, Line: line, Msg: "not valid YAML: " + msg}
}

// firstTabIndent is the line (1-based) of the first line with a tab in its leading white
// space, or 0.
func firstTabIndent(lines []string) int {
	for i, l := range lines {
		if strings.Contains(l[:len(l)-len(strings.TrimLeft(l, " \t"))], "\t") {
			return i + 1
		}
	}
	return 0
}

// badDedent finds the first line that moves left to an indentation no line above it opened,
// the usual cause of yaml.v3's "did not find expected key" (which names an earlier line). It
// returns 0 when it finds none.
func badDedent(lines []string) int {
	var stack []int // open indentations, increasing
	for i, l := range lines {
		body := strings.TrimLeft(l, " ")
		if body == "" || strings.HasPrefix(body, "#") {
			continue
		}
		indent := len(l) - len(body)
		dedent := false
		for len(stack) > 0 && stack[len(stack)-1] > indent {
			stack = stack[:len(stack)-1]
			dedent = true
		}
		if dedent && (len(stack) == 0 || stack[len(stack)-1] != indent) {
			return i + 1
		}
		if len(stack) == 0 || stack[len(stack)-1] < indent {
			stack = append(stack, indent)
		}
		// "- key: v" opens a second level where the item's content begins.
		for strings.HasPrefix(body, "- ") {
			rest := strings.TrimLeft(body[2:], " ")
			indent += len(body) - len(rest)
			stack = append(stack, indent)
			body = rest
		}
	}
	return 0
}

// unclosedQuote finds the line of a quoted scalar that is never closed. It follows YAML's
// quoting well enough for the usual case: a quote opens a value only at the start of a line,
// list item, flow entry or after "key: ", and "#" begins a comment outside quotes.
func unclosedQuote(lines []string) (line int, quote byte, ok bool) {
	var in byte
	start := 0
	for i, l := range lines {
		prev := byte('\n') // what precedes the character, ignoring spaces
		for j := 0; j < len(l); j++ {
			c := l[j]
			switch {
			case in == '\'' && c == '\'':
				if j+1 < len(l) && l[j+1] == '\'' {
					j++
					continue
				}
				in = 0
			case in == '"' && c == '\\':
				j++
			case in == '"' && c == '"':
				in = 0
			case in != 0:
			case c == '#' && (j == 0 || l[j-1] == ' ' || l[j-1] == '\t'):
				j = len(l)
			case (c == '"' || c == '\'') && strings.IndexByte("\n:-[{,?", prev) >= 0:
				in, start = c, i+1
			}
			if c != ' ' && c != '\t' {
				prev = c
			}
		}
	}
	return start, in, in != 0
}

// invalidUTF8Line returns the line of the first byte that is not UTF-8, and false, if any.
func invalidUTF8Line(data []byte) (int, bool) {
	if utf8.Valid(data) {
		return 0, true
	}
	line := 1
	for len(data) > 0 {
		r, size := utf8.DecodeRune(data)
		if r == utf8.RuneError && size <= 1 {
			return line, false
		}
		if r == '\n' {
			line++
		}
		data = data[size:]
	}
	return line, false
}

// regexErrMsg is a regexp error without its "error parsing regexp: " prefix.
func regexErrMsg(err error) string {
	return strings.TrimPrefix(err.Error(), "error parsing regexp: ")
}
