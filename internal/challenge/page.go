package challenge

import (
	_ "embed"
	"fmt"
	"html/template"
	"os"
	"strings"
)

// PageData is what a challenge page template receives. A replacement
// template (LoadTemplate) must, for the script and work levels, keep a
// form#fg-form posting to .VerifyPath with the hidden inputs c (.Challenge),
// a (empty, filled by the script) and r (.ReturnTo), the data attributes
// data-nonce (.Nonce), data-bits (.Difficulty), data-level (.Level) and
// data-done (.Text.Done), and <script nonce="{{.CSPNonce}}">{{.Script}}</script>
// after it; optionally progress#fg-progress and #fg-status. For the cookie
// level it should keep the meta refresh to .ReturnTo. Inline <style> and
// <script> need nonce="{{.CSPNonce}}": the page is served with a strict
// Content-Security-Policy and may load nothing from elsewhere.
type PageData struct {
	// Lang is the page language chosen from Accept-Language: "en" or "fr".
	Lang string
	// Text holds the page's words in Lang.
	Text Text
	// Host is the site the visitor is going to (request host, no port).
	Host string
	// Level is the challenge level: "cookie", "script" or "work".
	Level string
	// ReturnTo is the same-site path (and query) to go back to once passed.
	ReturnTo string
	// RefreshSeconds is the meta-refresh delay of the cookie level.
	RefreshSeconds int
	// VerifyPath is where the script and work levels post their answer.
	VerifyPath string
	// Challenge is the signed challenge token (script and work levels).
	Challenge string
	// Nonce is the hexadecimal nonce to hash (script and work levels).
	Nonce string
	// Difficulty is the number of leading zero bits the hash must have.
	Difficulty int
	// Retry is true when this page replaces an answer that was refused.
	Retry bool
	// CSPNonce is the nonce that inline <script> and <style> elements need.
	CSPNonce string
	// Script is the solver script (script and work levels).
	Script template.JS
}

//go:embed page.html
var defaultPage string

//go:embed solver.js
var solverSource string

// solverJS is solver.js without comment lines and indentation.
var solverJS = compactJS(solverSource)

// compactJS drops whole-line // comments, indentation and blank lines: a
// cheap shrink that cannot change what the script does.
func compactJS(src string) string {
	var b strings.Builder
	for _, line := range strings.Split(src, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "//") {
			continue
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.String()
}

// DefaultTemplate returns the built-in page template (English and French,
// inline CSS and JavaScript, a few kilobytes).
func DefaultTemplate() *template.Template {
	return template.Must(ParseTemplate("floodgate-challenge", defaultPage))
}

// ParseTemplate parses a page template from text; name appears in errors.
func ParseTemplate(name, text string) (*template.Template, error) {
	t, err := template.New(name).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("challenge page template %s: %w", name, err)
	}
	return t, nil
}

// LoadTemplate reads and parses a page template file (html/template syntax,
// fed a PageData). Errors name the file and, for syntax errors, the line.
// The template is also executed once on sample data so that a reference to
// a field PageData does not have is caught at load time.
func LoadTemplate(path string) (*template.Template, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("challenge page template: %w", err)
	}
	t, err := ParseTemplate(path, string(b))
	if err != nil {
		return nil, err
	}
	for _, level := range []string{"cookie", "script", "work"} {
		d := PageData{Lang: "en", Text: texts["en"], Host: "example.org", Level: level, ReturnTo: "/", RefreshSeconds: 1,
			VerifyPath: DefaultVerifyPath, Challenge: "x", Nonce: "00", Difficulty: 16, CSPNonce: "n", Script: template.JS(solverJS)}
		if err := t.Execute(discard{}, d); err != nil {
			return nil, fmt.Errorf("challenge page template %s, level %s: %w (the fields are those of challenge.PageData)", path, level, err)
		}
	}
	return t, nil
}

// discard is an io.Writer that keeps nothing.
type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
