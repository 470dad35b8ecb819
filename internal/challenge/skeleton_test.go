package challenge

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestSkeletonSameAsTemplate renders cookie-level pages from skeletons and with the template,
// for the built-in template and for templates that put the values in other contexts (a
// script, a style, a URL attribute, a query parameter), over random return paths, hosts
// and nonces — safe ones and ones an attacker would choose (quotes, '&', '<', ':', "javascript:",
// non-ASCII, %-escapes): the bytes must be the same every time.
func TestSkeletonSameAsTemplate(t *testing.T) {
	templates := map[string]string{
		"built-in": defaultPage,
		"script":   `<script nonce="{{.CSPNonce}}">var back = "{{.ReturnTo}}", host = '{{.Host}}';</script><a href="{{.ReturnTo}}">{{.Text.Continue}}</a>`,
		"style":    `<style nonce="{{.CSPNonce}}">a::after { content: "{{.ReturnTo}}"; }</style><p title={{.Host}}>{{.ReturnTo}}</p>`,
		"url-part": `<a href="/go?to={{.ReturnTo}}&amp;h={{.Host}}">x</a><meta http-equiv="refresh" content="{{.RefreshSeconds}}; url={{.ReturnTo}}">`,
		"no-holes": `<p>{{.Text.Title}}</p>`,
	}
	pieces := []string{"/", "a", "Z", "9", "-", ".", "_", "~", "?", "=", "%2F", "%", "&", "\"", "'", "<", ">", " ", ":", "javascript:", "é", "+", "#", ";", "(", ")", "\\", "`", "{{", "</script>"}
	rng := rand.New(rand.NewPCG(7, 8))
	randomValue := func(first string) string {
		var b strings.Builder
		b.WriteString(first)
		safe := rng.IntN(5) > 0 // mostly values a skeleton takes (the first 11 pieces)
		for n := rng.IntN(8); n > 0; n-- {
			if safe || rng.IntN(2) == 0 {
				b.WriteString(pieces[rng.IntN(11)])
			} else {
				b.WriteString(pieces[rng.IntN(len(pieces))])
			}
		}
		return b.String()
	}
	for name, text := range templates {
		tmpl, err := ParseTemplate(name, text)
		if err != nil {
			t.Fatal(err)
		}
		execute := func(buf *bytes.Buffer, d *PageData) error { return tmpl.Execute(buf, d) }
		var s skeletons
		fast := 0
		for i := 0; i < 3000; i++ {
			lang := []string{"en", "fr"}[rng.IntN(2)]
			d := PageData{Lang: lang, Text: texts[lang], Level: "cookie", VerifyPath: "/.floodgate/verify",
				ReturnTo: randomValue("/"), Host: randomValue("h"), CSPNonce: randomValue(""),
				RefreshSeconds: []int{0, slowRefreshSeconds}[rng.IntN(2)], Retry: rng.IntN(4) == 0}
			var want, got bytes.Buffer
			if err := execute(&want, &d); err != nil {
				t.Fatal(err)
			}
			if err := s.render(&got, &d, execute); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want.Bytes()) {
				t.Fatalf("%s: ReturnTo %q Host %q nonce %q:\nskeleton: %s\ntemplate: %s", name, d.ReturnTo, d.Host, d.CSPNonce, got.String(), want.String())
			}
			if safeReturnTo(d.ReturnTo) && safeHost(d.Host) && safeNonce(d.CSPNonce) {
				fast++
			}
		}
		if fast < 100 {
			t.Errorf("%s: only %d of 3000 pages had values a skeleton takes: the test does not exercise it", name, fast)
		}
		// The built-in template is filled from skeletons; a script context writes '/' as
		// "\/", so that template must fall back to the template for every page.
		k := skeletonKey{lang: "en"}
		v, _ := s.m.Load(k)
		sk, _ := v.(*skeleton)
		switch name {
		case "built-in", "no-holes":
			if sk == nil {
				t.Errorf("%s: no skeleton made: every challenge would run the template", name)
			}
		case "script":
			if sk != nil {
				t.Errorf("%s: a skeleton was made although the template escapes '/' in a script", name)
			}
		}
	}
}
