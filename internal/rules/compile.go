package rules

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/floodgate-proxy/floodgate/internal/network"
)

// Set is a compiled, checked collection of rules from one or more files, in load order.
type Set struct {
	// Rules lists every rule, identity and policy, in load order; Rule.Index is its position.
	Rules []*Rule
	// Classes holds every known class name: the built-in ones and the declared ones.
	Classes map[string]bool
	// Files names the files the set was built from, in load order.
	Files []string
	// Sites finds a request host's site policy.
	Sites *SiteIndex
	// Warnings are what loads but deserves a tech's look: networks skipped from range files,
	// a rule count past its documented cost. `rules check` prints them; floodgate logs them.
	Warnings []string
}

// PathRuleWarnAt is the number of rules with a path condition past which loading warns.
// Every request tests every path rule: measured with BenchmarkClassifyPathRules (2 shared
// cores), 100 path rules cost ~2-6 µs per request, 1,000 ~30 µs, 3,000 ~180 µs and 10,000
// ~1.4 ms — the cost grows faster than the count, and past about 1,000 it outweighs the rest
// of floodgate's work on a request. See rules/README.md.
const PathRuleWarnAt = 1000

// Source reads rule files and the range files they name.
type Source interface {
	// ReadFile returns a file's bytes.
	ReadFile(name string) ([]byte, error)
	// Join resolves a range file named in a rule file relative to that rule file.
	Join(ruleFile, rel string) string
}

// OSSource reads files from the operating system; range files resolve against the rule file's folder.
type OSSource struct{}

// ReadFile reads a file from disk.
func (OSSource) ReadFile(name string) ([]byte, error) { return os.ReadFile(name) }

// Join resolves rel against the folder of ruleFile, unless rel is absolute.
func (OSSource) Join(ruleFile, rel string) string {
	if filepath.IsAbs(rel) {
		return rel
	}
	return filepath.Join(filepath.Dir(ruleFile), rel)
}

// FSSource reads files from an fs.FS, such as the embedded shipped rules.
type FSSource struct{ FS fs.FS }

// ReadFile reads a file from the FS.
func (s FSSource) ReadFile(name string) ([]byte, error) { return fs.ReadFile(s.FS, name) }

// Join resolves rel against the folder of ruleFile inside the FS.
func (s FSSource) Join(ruleFile, rel string) string { return path.Join(path.Dir(ruleFile), rel) }

// Load reads, parses and compiles the named files from src, in order. All problems in all
// files are reported together.
func Load(src Source, names ...string) (*Set, error) {
	var files []*File
	var errs []error
	for _, name := range names {
		data, err := src.ReadFile(name)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: cannot read the rule file: %w", name, unwrapPathErr(err)))
			continue
		}
		f, err := Parse(name, data)
		if err != nil {
			errs = append(errs, err)
		}
		if f != nil {
			files = append(files, f)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return Compile(src, files...)
}

// Compile joins parsed files into a Set: it reads range files through src, checks names and
// classes across files, and compiles each rule's patterns.
func Compile(src Source, files ...*File) (*Set, error) {
	s := &Set{Classes: map[string]bool{}}
	var errs []error
	errf := func(file string, line int, format string, args ...any) {
		errs = append(errs, &Error{File: file, Line: line, Msg: fmt.Sprintf(format, args...)})
	}
	for _, c := range BuiltinClasses {
		s.Classes[c] = true
	}
	ranges := map[string]*Range{}
	for _, f := range files {
		s.Files = append(s.Files, f.Name)
		for _, c := range f.Classes {
			s.Classes[c.Name] = true
		}
		for _, r := range f.Ranges {
			if prev, dup := ranges[r.Name]; dup {
				errf(f.Name, r.Line, "range %s is already defined at %s:%d (range names are shared by all files)", r.Name, rangeFile(files, prev), prev.Line)
				continue
			}
			ranges[r.Name] = r
			set, err := buildRange(src, f.Name, r, &s.Warnings)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			r.Set = set
		}
	}
	names := map[string]*Rule{}
	for _, f := range files {
		for _, r := range f.Rules {
			if prev, dup := names[r.Name]; dup {
				errf(r.File, r.Line, "rule name %q is already used at %s:%d (rule names must be unique across files)", r.Name, prev.File, prev.Line)
				continue
			}
			names[r.Name] = r
			if r.Class != "" && !s.Classes[r.Class] {
				errf(r.File, r.lineOf("class"), "rule %s: class %q is not declared (expected one of %s, or declare it under classes:)", r.Name, r.Class, classList(s.Classes))
			}
			for _, c := range r.Match.Class {
				if !s.Classes[c] {
					errf(r.File, r.lineOf("match.class"), "rule %s: match.class %q is not declared (expected one of %s)", r.Name, c, classList(s.Classes))
				}
			}
			for _, n := range r.Match.Ranges {
				if rg, ok := ranges[n]; !ok {
					errf(r.File, r.lineOf("match.ranges"), "rule %s: match.ranges names %q, which no loaded file defines under ranges:", r.Name, n)
				} else if rg.Set != nil {
					r.Match.RangeSets = append(r.Match.RangeSets, rg.Set)
				}
			}
			for _, n := range r.Verify {
				if rg, ok := ranges[n]; !ok {
					errf(r.File, r.lineOf("verify"), "rule %s: verify names %q, which no loaded file defines under ranges:", r.Name, n)
				} else if rg.Set != nil {
					r.VerifySets = append(r.VerifySets, rg.Set)
				}
			}
			var err error
			if len(r.Match.Host) > 0 {
				if r.Match.Hosts, err = NewHostSet(r.Match.Host); err != nil {
					errf(r.File, r.Line, "rule %s: %v", r.Name, err)
				}
			}
			if len(r.Match.Path) > 0 {
				if r.Match.Paths, err = NewPathSet(r.Match.Path); err != nil {
					errf(r.File, r.Line, "rule %s: %v", r.Name, err)
				}
			}
			r.Match.Queries = nil
			for _, q := range r.Match.Query {
				if t, err := NewQueryTest(q); err == nil {
					r.Match.Queries = append(r.Match.Queries, t)
				}
			}
			r.Index = len(s.Rules)
			s.Rules = append(s.Rules, r)
		}
	}
	compileSites(s, files, errf)
	pathRules := 0
	for _, r := range s.Rules {
		if r.Match.Paths != nil {
			pathRules++
		}
	}
	if pathRules > PathRuleWarnAt {
		s.Warnings = append(s.Warnings, fmt.Sprintf("%d rules match on paths: every request tests each of them, "+
			"about 30 µs per request at %d and growing faster than the count (see rules/README.md, \"What rules cost\"); "+
			"prefer one rule listing many paths, or host-specific rules in a site's overrides", pathRules, PathRuleWarnAt))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

func buildRange(src Source, ruleFile string, r *Range, warnings *[]string) (*network.RangeSet, error) {
	var sets []*network.RangeSet
	var errs []error
	if len(r.CIDR) > 0 {
		var pfx []netip.Prefix
		for _, c := range r.CIDR {
			p, err := parsePrefix(c)
			if err == nil {
				pfx = append(pfx, p)
			}
		}
		sets = append(sets, network.NewRangeSet(r.Name, pfx...))
	}
	for _, rel := range r.Files {
		name := src.Join(ruleFile, rel)
		data, err := src.ReadFile(name)
		if err != nil {
			errs = append(errs, &Error{File: ruleFile, Line: r.Line, Msg: fmt.Sprintf("range %s: cannot read %s: %v (expected a file of one CIDR per line, named relative to this rule file)", r.Name, name, unwrapPathErr(err))})
			continue
		}
		set, err := network.ParsePublicRanges(name, bytes.NewReader(data))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		*warnings = append(*warnings, set.Skipped()...)
		sets = append(sets, set)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return network.Union(r.Name, sets...), nil
}

func rangeFile(files []*File, r *Range) string {
	for _, f := range files {
		for _, x := range f.Ranges {
			if x == r {
				return f.Name
			}
		}
	}
	return "?"
}

// classList names every known class, sorted, for messages.
func classList(classes map[string]bool) string {
	names := make([]string, 0, len(classes))
	for c := range classes {
		names = append(names, c)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func unwrapPathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
