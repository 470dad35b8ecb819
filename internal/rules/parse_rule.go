package rules

// Decoding a rule file's sections: classes, ranges, rules, their match conditions and budgets.

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/floodgate-proxy/floodgate/internal/pass"
)

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
			r.Impostor = p.action(v, "impostor", "block", "throttle", "log")
		},
		"action": func(v *yaml.Node) {
			actionNode = v
			r.Action = p.action(v, "action", "allow", "challenge", "block")
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
	if r.Action == ActionChallenge && r.ChallengeLevel == pass.LevelNone {
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
			b.Action = p.action(v, "budget action", "throttle", "block", "delay", "challenge", "log", "quarantine")
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
	if b.Action == ActionChallenge && b.ChallengeLevel == pass.LevelNone {
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

// challengeLevel reads a challenge level; pass.LevelNone after an error.
func (p *parser) challengeLevel(n *yaml.Node) pass.Level {
	s := p.scalar(n, "challenge_level")
	if l, err := pass.ParseLevel(s); err == nil {
		return l
	}
	p.errf(n, "challenge_level %q is not known, expected one of cookie, script, work", s)
	return pass.LevelNone
}

// action reads an action, one of the allowed names (as written in rule files).
func (p *parser) action(n *yaml.Node, what string, allowed ...string) Action {
	s, ok := p.scalarOK(n, what)
	if !ok {
		return ActionNone
	}
	if a, known := actionNamed(s); known && slices.Contains(allowed, s) {
		return a
	}
	p.errf(n, "%s %q is not known here, expected one of %s", what, s, strings.Join(allowed, ", "))
	return ActionNone
}
