package rules

// The YAML walker: typed reads of yaml.v3 nodes that report, rather than stop at, nodes of
// the wrong kind, unknown or repeated keys and malformed scalars.

import (
	"fmt"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

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
