package challenge

import (
	"net/http"
	"sync/atomic"
	"time"
)

// httpDate remembers the last second it wrote as an HTTP date (http.TimeFormat, whole
// seconds): a cookie challenge writes its pass's Expires, the same for every answer of one
// second, and formatting it (time.Time.AppendFormat) was about 1,500 of a stealth flood's
// challenge answer's 74,000 instructions (BenchmarkHandlerChallenge under callgrind). Safe for
// concurrent use; a new second costs one formatting and one allocation.
type httpDate struct {
	last atomic.Pointer[httpDateText]
}

// httpDateText is one second and its HTTP date; never written once stored.
type httpDateText struct {
	unix int64
	text []byte
}

// append appends t, in UTC, as http.TimeFormat writes it.
func (d *httpDate) append(dst []byte, t time.Time) []byte {
	u := t.Unix()
	if last := d.last.Load(); last != nil && last.unix == u {
		return append(dst, last.text...)
	}
	text := t.UTC().AppendFormat(nil, http.TimeFormat)
	d.last.Store(&httpDateText{unix: u, text: text})
	return append(dst, text...)
}
