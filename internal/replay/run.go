package replay

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Result is a replay of one or more logs against one or two rule sets.
type Result struct {
	// Summary is the replay against the first rule set.
	Summary *Summary
	// Compare, when a second rule set was given, is the replay against it and what changed.
	Compare *Comparison
	// Lines counts the log lines read (requests and skipped); Elapsed the time taken.
	Lines   int
	Elapsed time.Duration
	// Formats names each log's detected format.
	Formats map[string]Format
	// FirstSkips holds the messages of the first lines skipped (at most 5).
	FirstSkips []string
}

// Run replays the logs through an engine per config (one, or two to compare) and sums up.
// Lines that are not requests are counted and skipped; any other read error stops the run.
func Run(logs []string, cfgs ...Config) (*Result, error) {
	if len(cfgs) == 0 || len(cfgs) > 2 {
		return nil, errors.New("replay: one rule set, or two to compare")
	}
	start := time.Now()
	engines := make([]*Engine, len(cfgs))
	sums := make([]*Summary, len(cfgs))
	for i, c := range cfgs {
		engines[i], sums[i] = NewEngine(c), NewSummary()
	}
	res := &Result{Summary: sums[0], Formats: map[string]Format{}}
	var cmp *Comparison
	if len(cfgs) == 2 {
		cmp = newComparison(sums[1])
		res.Compare = cmp
	}
	var en Entry
	for _, name := range logs {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		rd, err := NewReader(name, f)
		if err != nil {
			f.Close()
			return nil, err
		}
		res.Formats[name] = rd.Format()
		for {
			err := rd.Next(&en)
			if err == io.EOF {
				break
			}
			res.Lines++
			if errors.Is(err, ErrSkip) {
				if len(res.FirstSkips) < 5 {
					res.FirstSkips = append(res.FirstSkips, err.Error())
				}
				for _, s := range sums {
					s.Skipped++
				}
				continue
			}
			if err != nil {
				rd.Close()
				f.Close()
				return nil, err
			}
			a := engines[0].Play(&en)
			sums[0].Add(&en, a)
			if cmp != nil {
				b := engines[1].Play(&en)
				sums[1].Add(&en, b)
				cmp.add(a, b)
			}
		}
		rd.Close()
		f.Close()
	}
	for i, e := range engines {
		sums[i].Events = e.Events
	}
	res.Elapsed = time.Since(start)
	if res.Summary.Requests == 0 {
		return res, fmt.Errorf("replay: no requests in %v (%d lines skipped)", logs, res.Summary.Skipped)
	}
	return res, nil
}
