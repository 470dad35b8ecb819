package harness

import (
	"bytes"
	"io"
	"strconv"
	"sync"
)

// CappedLog is a proxy's output, filtered so that a long flood does not fill the disk with
// access-log lines: it writes the first bytes of access-log lines and counts the rest, keeps
// every other line (up to a bound), and counts the lines that contain given words (a site
// switching to under-attack mode, say). Lines are split at '\n'; an exec.Cmd writes to it
// from one goroutine per stream, so it locks.
type CappedLog struct {
	mu      sync.Mutex
	w       io.Writer
	partial []byte
	// accessCap and otherCap bound what is written of each kind of line.
	accessCap, otherCap int64
	accessW, otherW     int64
	// AccessLines and DroppedLines count access-log lines seen and not written.
	accessLines, dropped int64
	counts               map[string]int64
	first                map[string]float64
}

// accessLogger marks Caddy's access-log lines (JSON: "logger":"http.log.access...").
var accessLogger = []byte(`"logger":"http.log.access`)

// CountedPhrases are what CappedLog counts in the proxy's non-access lines.
var CountedPhrases = []string{"site under attack", "site no longer under attack"}

// NewCappedLog writes to w at most capBytes of access-log lines and 8×capBytes of others.
func NewCappedLog(w io.Writer, capBytes int64) *CappedLog {
	return &CappedLog{w: w, accessCap: capBytes, otherCap: 8 * capBytes, counts: map[string]int64{}, first: map[string]float64{}}
}

// Write implements io.Writer; it never fails (a full log must not stop the proxy).
func (c *CappedLog) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	data := p
	if len(c.partial) > 0 {
		data = append(c.partial, p...)
		c.partial = nil
	}
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			if len(data) > 0 {
				c.partial = append([]byte(nil), data[:min(len(data), 1<<20)]...)
			}
			return len(p), nil
		}
		c.line(data[:i+1])
		data = data[i+1:]
	}
}

func (c *CappedLog) line(l []byte) {
	if bytes.Contains(l, accessLogger) {
		c.accessLines++
		if c.accessW+int64(len(l)) > c.accessCap {
			c.dropped++
			return
		}
		c.accessW += int64(len(l))
		_, _ = c.w.Write(l)
		return
	}
	for _, ph := range CountedPhrases {
		if bytes.Contains(l, []byte(ph)) {
			c.counts[ph]++
			if _, seen := c.first[ph]; !seen {
				c.first[ph] = lineTime(l)
			}
		}
	}
	if c.otherW+int64(len(l)) > c.otherCap {
		return
	}
	c.otherW += int64(len(l))
	_, _ = c.w.Write(l)
}

// Count returns how many non-access lines contained phrase (one of CountedPhrases).
func (c *CappedLog) Count(phrase string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[phrase]
}

// First returns the time (Unix seconds, from the line's "ts") of the first non-access line
// that contained phrase; ok is false when none did, or its time was unreadable.
func (c *CappedLog) First(phrase string) (ts float64, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ts, ok = c.first[phrase]
	return ts, ok && ts > 0
}

// lineTime reads the "ts" field (Unix seconds) of a Caddy JSON log line, 0 if none.
func lineTime(l []byte) float64 {
	_, rest, ok := bytes.Cut(l, []byte(`"ts":`))
	if !ok {
		return 0
	}
	end := bytes.IndexAny(rest, ",}")
	if end < 0 {
		return 0
	}
	v, err := strconv.ParseFloat(string(bytes.TrimSpace(rest[:end])), 64)
	if err != nil {
		return 0
	}
	return v
}

// AccessLines returns how many access-log lines the proxy wrote, and how many of them were
// not kept.
func (c *CappedLog) AccessLines() (seen, dropped int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.accessLines, c.dropped
}
