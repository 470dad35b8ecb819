package rules

import (
	"bytes"
	"errors"
	"fmt"
	"io"

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
