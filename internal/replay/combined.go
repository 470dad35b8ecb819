package replay

import (
	"bytes"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// combinedParser reads Apache/nginx combined lines:
//
//	[vhost[:port]] client ident user [day/Mon/year:HH:MM:SS zone] "METHOD target PROTO" status bytes "referer" "user agent"
//
// It keeps the last timestamp and strings it made, as consecutive lines often repeat them.
type combinedParser struct {
	lastStamp []byte
	lastTime  time.Time
	intern    map[string]string
}

func (p *combinedParser) parse(line []byte, e *Entry) error {
	*e = Entry{}
	// client (or vhost, then client)
	f, rest := field(line)
	var ip netip.Addr
	err := errNotAddr
	if maybeAddr(f) { // a vhost name fails here without the cost of a parse error
		ip, err = netip.ParseAddr(string(f))
	}
	if err != nil {
		// Apache's vhost_combined starts with the virtual host.
		host := f
		if i := bytes.LastIndexByte(host, ':'); i >= 0 {
			host = host[:i]
		}
		f, rest = field(rest)
		if ip, err = netip.ParseAddr(string(f)); err != nil {
			return errors.New("does not start with a client address (expected the combined format)")
		}
		e.Host = p.str(bytes.ToLower(host))
	}
	e.IP = ip.Unmap()
	_, rest = field(rest) // ident
	_, rest = field(rest) // user
	if len(rest) == 0 || rest[0] != '[' {
		return errors.New("no [timestamp] after the client address")
	}
	end := bytes.IndexByte(rest, ']')
	if end < 0 {
		return errors.New("unterminated [timestamp]")
	}
	stamp := rest[1:end]
	if !bytes.Equal(stamp, p.lastStamp) {
		t, err := time.Parse("02/Jan/2006:15:04:05 -0700", string(stamp))
		if err != nil {
			return errors.New("timestamp " + strconv.Quote(string(stamp)) + " is not day/Mon/year:HH:MM:SS zone")
		}
		p.lastStamp = append(p.lastStamp[:0], stamp...)
		p.lastTime = t
	}
	e.Time = p.lastTime
	rest = bytes.TrimLeft(rest[end+1:], " ")
	req, rest, ok := quoted(rest)
	if !ok {
		return errors.New("no quoted request line")
	}
	method, target, _ := strings.Cut(string(req), " ")
	target, _, _ = strings.Cut(target, " ")
	if method == "" || method == "-" {
		method, target = "", ""
	}
	e.Method = p.str([]byte(method))
	path, query, _ := strings.Cut(target, "?")
	if strings.HasPrefix(path, "http://") || strings.HasPrefix(path, "https://") {
		// A proxy-style absolute target: keep host and path.
		u := path[strings.Index(path, "//")+2:]
		h, pth, _ := strings.Cut(u, "/")
		if e.Host == "" {
			e.Host = strings.ToLower(h)
		}
		path = "/" + pth
	}
	e.Path, e.Query = path, query
	st, rest := field(rest)
	e.Status, _ = strconv.Atoi(string(st))
	_, rest = field(rest)              // bytes
	if _, r2, ok := quoted(rest); ok { // referer
		if ua, _, ok := quoted(r2); ok {
			e.UserAgent = p.str(ua)
		}
	}
	return nil
}

// str returns s as a string, shared with earlier lines that had the same bytes (user agents
// and methods repeat).
func (p *combinedParser) str(b []byte) string {
	if p.intern == nil {
		p.intern = map[string]string{}
	}
	if s, ok := p.intern[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(p.intern) < 100000 {
		p.intern[s] = s
	}
	return s
}

// field returns the text up to the next space, and what follows it.
func field(b []byte) (f, rest []byte) {
	b = bytes.TrimLeft(b, " ")
	i := bytes.IndexByte(b, ' ')
	if i < 0 {
		return b, nil
	}
	return b[:i], b[i+1:]
}

// quoted reads a "…" field (with \" escapes, as Apache and nginx write them) and returns its
// text, still escaped, and what follows.
func quoted(b []byte) (q, rest []byte, ok bool) {
	b = bytes.TrimLeft(b, " ")
	if len(b) == 0 || b[0] != '"' {
		return nil, b, false
	}
	for i := 1; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return b[1:i], b[i+1:], true
		}
	}
	return nil, nil, false
}

var errNotAddr = errors.New("not an address")

// maybeAddr reports whether b has only the characters of an IPv4 or IPv6 address.
func maybeAddr(b []byte) bool {
	for _, c := range b {
		switch {
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f', 'A' <= c && c <= 'F', c == ':', c == '.':
		default:
			return false
		}
	}
	return len(b) > 0
}
