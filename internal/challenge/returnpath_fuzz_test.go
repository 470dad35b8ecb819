package challenge

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzReturnPath checks the redirect target after a passed challenge is
// always a same-site path, whatever the form said.
func FuzzReturnPath(f *testing.F) {
	for _, s := range []string{"/", "/a?b=c", "//evil.example", "/\\evil", "https://evil.example", "/\t/x", "/%2F%2Fx", "/a b'\"<>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := returnPath(in)
		if want := returnPathReference(in); out != want {
			t.Fatalf("returnPath(%q) = %q, parsed it is %q", in, out, want)
		}
		if !strings.HasPrefix(out, "/") || strings.HasPrefix(out, "//") || strings.ContainsAny(out, "\\\"'<> ") {
			t.Fatalf("returnPath(%q) = %q: not a plain same-site path", in, out)
		}
		for i := 0; i < len(out); i++ {
			if out[i] < 0x20 || out[i] == 0x7f {
				t.Fatalf("returnPath(%q) = %q: control character", in, out)
			}
		}
		u, err := url.Parse(out)
		if err != nil || u.Scheme != "" || u.Host != "" {
			t.Fatalf("returnPath(%q) = %q: parses as %v, %v", in, out, u, err)
		}
	})
}
