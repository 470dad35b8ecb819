// Package replay plays access logs through floodgate's decision path on a virtual clock taken
// from the log's timestamps, and sums up what floodgate would have done: requests by class,
// action and rule, who would have been refused, which sites would have gone under attack or
// into quarantine, and when. It knows nothing of Caddy.
package replay

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"
)

// Entry is one request read from an access log.
type Entry struct {
	// Time is when the request was made (the log's timestamp).
	Time time.Time
	// IP is the client address.
	IP netip.Addr
	// Method, Host, Path and Query describe the request; Host is empty in logs without it.
	Method, Host, Path, Query string
	// UserAgent is the User-Agent header.
	UserAgent string
	// Status is the response status the log recorded (0 when unknown).
	Status int
	// Latency is the response time when the log has it (Caddy's duration), else 0.
	Latency time.Duration
}

// Format is an access log format.
type Format string

const (
	// FormatCaddyJSON is Caddy's JSON access log (one object per line).
	FormatCaddyJSON Format = "caddy-json"
	// FormatCombined is the Apache/nginx combined format, optionally with a leading vhost
	// ("%v:%p %h …", Apache's vhost_combined).
	FormatCombined Format = "combined"
)

// Reader reads entries from one access log, plain or gzip, in whichever format its first line
// is in.
type Reader struct {
	name   string
	sc     *bufio.Scanner
	closer io.Closer
	format Format
	line   int
	// pending is the first line, read to detect the format.
	pending []byte
	// Skipped counts lines that are not requests in the log's format (each is an error
	// returned by Next, which the caller may count and go on).
	Skipped  int
	combined combinedParser
}

// ErrSkip wraps the error of a line that could not be read; the next call to Next goes on.
var ErrSkip = errors.New("line skipped")

// NewReader detects compression and format from the first bytes of r. name is used in
// messages ("name:line: problem").
func NewReader(name string, r io.Reader) (*Reader, error) {
	br := bufio.NewReaderSize(r, 256*1024)
	rd := &Reader{name: name}
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%s: gzip: %w", name, err)
		}
		rd.closer = gz
		br = bufio.NewReaderSize(gz, 256*1024)
	}
	rd.sc = bufio.NewScanner(br)
	rd.sc.Buffer(make([]byte, 256*1024), 4*1024*1024)
	for rd.sc.Scan() {
		rd.line++
		line := bytes.TrimSpace(rd.sc.Bytes())
		if len(line) == 0 {
			continue
		}
		rd.pending = append([]byte(nil), line...)
		if line[0] == '{' {
			rd.format = FormatCaddyJSON
		} else {
			rd.format = FormatCombined
		}
		return rd, nil
	}
	if err := rd.sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return nil, fmt.Errorf("%s: empty log", name)
}

// Format returns the format detected.
func (r *Reader) Format() Format { return r.format }

// Line returns the number of the line last read.
func (r *Reader) Line() int { return r.line }

// Next reads the next entry into e. It returns io.EOF at the end, and an error wrapping
// ErrSkip (naming file and line) for a line that is not a request in the log's format.
func (r *Reader) Next(e *Entry) error {
	var line []byte
	if r.pending != nil {
		line, r.pending = r.pending, nil
	} else {
		for {
			if !r.sc.Scan() {
				if err := r.sc.Err(); err != nil {
					return fmt.Errorf("%s: after line %d: %w", r.name, r.line, err)
				}
				return io.EOF
			}
			r.line++
			line = bytes.TrimSpace(r.sc.Bytes())
			if len(line) > 0 {
				break
			}
		}
	}
	var err error
	if r.format == FormatCaddyJSON {
		err = parseCaddyJSON(line, e)
	} else {
		err = r.combined.parse(line, e)
	}
	if err != nil {
		r.Skipped++
		return fmt.Errorf("%s:%d: %w: %v", r.name, r.line, ErrSkip, err)
	}
	return nil
}

// Close releases the gzip reader, if any.
func (r *Reader) Close() error {
	if r.closer != nil {
		return r.closer.Close()
	}
	return nil
}
