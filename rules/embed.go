// Package rulefiles holds floodgate's shipped rule files, embedded in the binary, and loads rule
// files by name: the word "shipped" stands for all of the embedded files, in order; any other
// name is a path on disk. Range files named by a rule file resolve next to it (inside the
// binary for shipped files).
package rulefiles

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/floodgate-proxy/floodgate/internal/rules"
)

// FS holds the shipped rule files and the range files they name.
//
//go:embed *.yaml ranges
var FS embed.FS

// Shipped is the name that stands for the shipped rule files.
const Shipped = "shipped"

// embeddedPrefix marks a shipped file in messages: "shipped:20-ai-crawlers.yaml:12: ...".
const embeddedPrefix = "shipped:"

// Files returns the names of the shipped rule files in load order (by name).
func Files() []string {
	names, _ := fs.Glob(FS, "*.yaml")
	sort.Strings(names)
	return names
}

// Export writes the shipped rule files and the range files they name into dir, so that techs
// can edit them or refresh the ranges and load the copy ("rules DIR") without rebuilding.
// It never overwrites a file: one that exists already is left as it is and listed in skipped
// (so exporting again into a folder adds only the files a newer floodgate ships).
func Export(dir string) (written, skipped []string, err error) {
	err = fs.WalkDir(FS, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(FS, name)
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrExist) {
			skipped = append(skipped, dst)
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := f.Write(data); err != nil {
			f.Close()
			return err
		}
		written = append(written, dst)
		return f.Close()
	})
	return written, skipped, err
}

// Load reads and compiles rule files in order; "shipped" stands for the shipped files, and a
// folder for its *.yaml files in name order.
// Every problem of every file is reported, each as "file:line: message".
func Load(names ...string) (*rules.Set, error) {
	return loadFrom(source{}, names...)
}

// loadFrom is Load reading files through src.
func loadFrom(src rules.Source, names ...string) (*rules.Set, error) {
	var expanded []string
	for _, n := range names {
		if n == Shipped {
			for _, f := range Files() {
				expanded = append(expanded, embeddedPrefix+f)
			}
			continue
		}
		if fi, err := os.Stat(n); err == nil && fi.IsDir() {
			files, _ := filepath.Glob(filepath.Join(n, "*.yaml"))
			if len(files) == 0 {
				return nil, fmt.Errorf("%s: a folder with no *.yaml rule files", n)
			}
			sort.Strings(files)
			expanded = append(expanded, files...)
			continue
		}
		expanded = append(expanded, n)
	}
	if len(expanded) == 0 {
		return nil, errors.New("no rule files given")
	}
	return rules.Load(src, expanded...)
}

// source reads "shipped:" names from FS and every other name from disk.
type source struct{}

func (source) ReadFile(name string) ([]byte, error) {
	if n, ok := strings.CutPrefix(name, embeddedPrefix); ok {
		return rules.FSSource{FS: FS}.ReadFile(n)
	}
	return rules.OSSource{}.ReadFile(name)
}

func (source) Join(ruleFile, rel string) string {
	if n, ok := strings.CutPrefix(ruleFile, embeddedPrefix); ok {
		return embeddedPrefix + rules.FSSource{FS: FS}.Join(n, rel)
	}
	return rules.OSSource{}.Join(ruleFile, rel)
}
