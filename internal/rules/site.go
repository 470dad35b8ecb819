package rules

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/floodgate-proxy/floodgate/internal/pass"
	"github.com/floodgate-proxy/floodgate/internal/protect"
)

// Site is the policy of one member site (or a family of them), chosen by the request host.
// Everything a site leaves out inherits the global behaviour: the rules' own budgets and
// actions, and the app's defaults.
type Site struct {
	// Name names the site in logs and metrics; default: its first host pattern.
	Name string
	// Hosts are exact names (example.org) and "*.example.org" patterns (any subdomain).
	Hosts []string
	// MaxInflight caps the site's requests in flight to the backend; 0: the global default.
	MaxInflight int
	// UnderAttack is protect.ModeAuto (default: switched on and off by load signals),
	// ModeOn or ModeOff.
	UnderAttack protect.Mode
	// AttackRate is the site's request rate that counts as an attack in auto mode; zero:
	// the global default.
	AttackRate Rate
	// ChallengeLevel is the challenge level used while the site is under attack;
	// pass.LevelNone: the global default.
	ChallengeLevel pass.Level
	// ChallengeExempt lists path globs of the site that are never challenged.
	ChallengeExempt []string
	// Exempt is ChallengeExempt compiled (nil without globs).
	Exempt *PathSet
	// Shadow makes the site's floodgate only log.
	Shadow bool
	// Overrides replace the action or budgets of rules (by name) or classes for this site.
	Overrides []*Override

	File string
	Line int

	byRule  map[string]*Override
	byClass map[string]*Override
}

// Override replaces, for one site, what a rule (by name) or a class's identity rules do.
type Override struct {
	// Rule names the rule overridden; Class the class whose identity rules are.
	Rule  string
	Class string
	// Action replaces the rule's outright action when not ActionNone.
	Action Action
	// ChallengeLevel goes with Action == ActionChallenge.
	ChallengeLevel pass.Level
	// Budgets replace the rule's budgets when BudgetsGiven (an empty list removes them).
	Budgets      []*Budget
	BudgetsGiven bool
	Line         int
}

// Effect is what a rule does to the requests of one site.
type Effect struct {
	// Action is the outright action (ActionNone for none) and ChallengeLevel its level.
	Action         Action
	ChallengeLevel pass.Level
	// Budgets are the budgets counted.
	Budgets []*Budget
	// Overridden says the site overrides the rule: its budgets count under their own keys.
	Overridden bool
}

// Effective returns what rule r does to requests of this site (s may be nil: no site policy).
func (s *Site) Effective(r *Rule) Effect {
	e := Effect{Action: r.Action, ChallengeLevel: r.ChallengeLevel, Budgets: r.Budgets}
	if s == nil {
		return e
	}
	o := s.byRule[r.Name]
	if o == nil && r.IsIdentity() {
		o = s.byClass[r.Class]
	}
	if o == nil {
		return e
	}
	e.Overridden = true
	if o.Action != ActionNone {
		e.Action, e.ChallengeLevel = o.Action, o.ChallengeLevel
	}
	if o.BudgetsGiven {
		e.Budgets = o.Budgets
	}
	return e
}

// IsExempt reports whether path is one of the site's challenge_exempt paths (s may be nil).
func (s *Site) IsExempt(path string) bool {
	return s != nil && s.Exempt != nil && s.Exempt.Contains(path)
}

// SiteIndex finds a host's site without work proportional to the number of sites: one map
// lookup for the exact name, then one per parent domain for wildcard patterns.
type SiteIndex struct {
	exact    map[string]*Site
	wildcard map[string]*Site // "example.org" for "*.example.org"
}

// Lookup returns the site of host (lowercase, no port), or nil.
func (ix *SiteIndex) Lookup(host string) *Site {
	if ix == nil {
		return nil
	}
	if s, ok := ix.exact[host]; ok {
		return s
	}
	for i := strings.IndexByte(host, '.'); i >= 0; {
		if s, ok := ix.wildcard[host[i+1:]]; ok {
			return s
		}
		j := strings.IndexByte(host[i+1:], '.')
		if j < 0 {
			break
		}
		i += j + 1
	}
	return nil
}

// Each calls fn once for every site indexed.
func (ix *SiteIndex) Each(fn func(*Site)) {
	if ix == nil {
		return
	}
	seen := map[*Site]bool{}
	for _, m := range []map[string]*Site{ix.exact, ix.wildcard} {
		for _, s := range m {
			if !seen[s] {
				seen[s] = true
				fn(s)
			}
		}
	}
}

// Len is the number of host patterns indexed.
func (ix *SiteIndex) Len() int { return len(ix.exact) + len(ix.wildcard) }

func (p *parser) sites(n *yaml.Node, f *File) []*Site {
	var out []*Site
	p.sequence(n, "sites", func(item *yaml.Node) {
		s := &Site{File: f.Name, Line: item.Line, UnderAttack: protect.ModeAuto}
		var hostsNode *yaml.Node
		p.mapping(item, "a site", map[string]func(*yaml.Node){
			"name":  func(v *yaml.Node) { s.Name = p.scalar(v, "name") },
			"hosts": func(v *yaml.Node) { hostsNode = v; s.Hosts = p.strings(v, "hosts") },
			"max_inflight": func(v *yaml.Node) {
				var n int
				if _, err := fmt.Sscanf(p.scalar(v, "max_inflight"), "%d", &n); err != nil || n < 1 || fmt.Sprint(n) != v.Value {
					p.errf(v, "max_inflight %q: expected a whole number of requests, 1 or more", v.Value)
					return
				}
				s.MaxInflight = n
			},
			"under_attack": func(v *yaml.Node) {
				mode := p.scalar(v, "under_attack")
				if v.Tag == "!!bool" {
					// YAML reads a bare on/off as true/false.
					mode = map[bool]string{true: "on", false: "off"}[p.boolean(v, "under_attack")]
				}
				m, err := protect.ParseMode(mode)
				if err != nil {
					p.errf(v, "under_attack %q: expected auto, on or off", v.Value)
				}
				s.UnderAttack = m
			},
			"attack_rate": func(v *yaml.Node) {
				r, err := ParseRate(p.scalar(v, "attack_rate"))
				if err != nil {
					p.errf(v, "attack_rate: %v", err)
				}
				s.AttackRate = r
			},
			"challenge_level":  func(v *yaml.Node) { s.ChallengeLevel = p.challengeLevel(v) },
			"challenge_exempt": func(v *yaml.Node) { s.ChallengeExempt = p.strings(v, "challenge_exempt") },
			"shadow":           func(v *yaml.Node) { s.Shadow = p.boolean(v, "shadow") },
			"overrides": func(v *yaml.Node) {
				p.sequence(v, "overrides", func(o *yaml.Node) {
					if ov := p.override(o); ov != nil {
						s.Overrides = append(s.Overrides, ov)
					}
				})
			},
		})
		if item.Kind != yaml.MappingNode {
			return
		}
		if len(s.Hosts) == 0 {
			p.errf(item, "a site needs hosts (expected hosts: [example.org, \"*.example.org\"])")
			return
		}
		if _, err := NewHostSet(s.Hosts); err != nil {
			p.errf(hostsNode, "%v", err)
			return
		}
		if len(s.ChallengeExempt) > 0 {
			ex, err := NewPathSet(s.ChallengeExempt)
			if err != nil {
				p.errf(item, "challenge_exempt: %v", err)
			}
			s.Exempt = ex
		}
		if s.Name == "" {
			s.Name = strings.ToLower(s.Hosts[0])
		}
		out = append(out, s)
	})
	return out
}

func (p *parser) override(n *yaml.Node) *Override {
	o := &Override{Line: n.Line}
	var levelNode *yaml.Node
	p.mapping(n, "an override", map[string]func(*yaml.Node){
		"rule":  func(v *yaml.Node) { o.Rule = p.scalar(v, "rule") },
		"class": func(v *yaml.Node) { o.Class = p.scalar(v, "class") },
		"action": func(v *yaml.Node) {
			o.Action = p.action(v, "action", "allow", "challenge", "block")
		},
		"challenge_level": func(v *yaml.Node) { levelNode = v; o.ChallengeLevel = p.challengeLevel(v) },
		"budgets": func(v *yaml.Node) {
			o.BudgetsGiven = true
			o.Budgets = []*Budget{}
			p.sequence(v, "budgets", func(item *yaml.Node) {
				if b := p.budget(item); b != nil {
					o.Budgets = append(o.Budgets, b)
				}
			})
		},
	})
	if n.Kind != yaml.MappingNode {
		return nil
	}
	if (o.Rule == "") == (o.Class == "") {
		p.errf(n, "an override names one rule: or one class:, not both or neither")
		return nil
	}
	if o.Action == ActionNone && !o.BudgetsGiven {
		p.errf(n, "an override changes nothing (expected action: or budgets:)")
	}
	if levelNode != nil && o.Action != ActionChallenge {
		p.errf(levelNode, "challenge_level only applies to action: challenge")
	}
	if o.Action == ActionChallenge && o.ChallengeLevel == pass.LevelNone {
		o.ChallengeLevel = DefaultChallengeLevel
	}
	return o
}

// compileSites indexes every file's sites and checks their overrides against the set.
func compileSites(s *Set, files []*File, errf func(file string, line int, format string, args ...any)) {
	s.Sites = &SiteIndex{exact: map[string]*Site{}, wildcard: map[string]*Site{}}
	names := map[string]*Rule{}
	for _, r := range s.Rules {
		names[r.Name] = r
	}
	for _, f := range files {
		for _, site := range f.Sites {
			for _, h := range site.Hosts {
				h = strings.ToLower(strings.TrimSpace(h))
				m, key := s.Sites.exact, h
				if strings.HasPrefix(h, "*.") {
					m, key = s.Sites.wildcard, h[2:]
				}
				if prev, dup := m[key]; dup {
					errf(site.File, site.Line, "host %q is already given to site %s at %s:%d (each host belongs to one site)", h, prev.Name, prev.File, prev.Line)
					continue
				}
				m[key] = site
			}
			site.byRule, site.byClass = map[string]*Override{}, map[string]*Override{}
			for _, o := range site.Overrides {
				switch {
				case o.Rule != "":
					if names[o.Rule] == nil {
						errf(site.File, o.Line, "site %s: override of rule %q, which no loaded file defines", site.Name, o.Rule)
					}
					site.byRule[o.Rule] = o
				default:
					if !s.Classes[o.Class] {
						errf(site.File, o.Line, "site %s: override of class %q, which is not declared (expected one of %s)", site.Name, o.Class, classList(s.Classes))
					}
					site.byClass[o.Class] = o
				}
			}
		}
	}
}
