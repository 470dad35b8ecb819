package rules

// yaml.v3 syntax errors made into messages a tech can act on: yaml.v3 says "line N: <its
// parser's words>", so the line is read back from the text and the usual slips (tabs, bad
// indentation, unclosed quotes, invalid UTF-8) are named.

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

var yamlLineRe = regexp.MustCompile(`line (\d+): `)

// yamlError turns a yaml.v3 syntax error into an *Error with a line and a hint a tech can act on.
func yamlError(name string, data []byte, err error) *Error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	// yaml.v3 leaves the line out when the problem is on the first line.
	line := 1
	if m := yamlLineRe.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = yamlLineRe.ReplaceAllString(msg, "")
	}
	// yaml.v3 counts lines from 0 for parser errors and from 1 for scanner errors.
	if strings.HasPrefix(msg, "did not find expected") && strings.Contains(err.Error(), "line ") {
		line++
	}
	lines := strings.Split(string(data), "\n")
	switch {
	case strings.Contains(msg, "tab character") || strings.Contains(msg, "found character that cannot start any token") && firstTabIndent(lines) > 0:
		if l := firstTabIndent(lines); l > 0 {
			line = l
		}
		msg = "a tab indents this line, expected spaces (YAML indents with spaces only)"
	case strings.Contains(msg, "found unexpected end of stream"):
		if open, quote, ok := unclosedQuote(lines); ok {
			line = open
			msg = fmt.Sprintf("the text quoted with %c here is never closed, expected a closing %c on the same value", quote, quote)
		} else {
			msg = "the file ends inside an unfinished value, expected every quote, [ and { to be closed"
		}
	case strings.Contains(msg, "mapping values are not allowed in this context"):
		msg = "a second ': ' on one line, expected one key: value per line (quote a value that holds ': ')"
	case strings.Contains(msg, "did not find expected ',' or ']'"):
		msg = "a [ list is not closed, expected entries separated by ',' and a closing ]"
	case strings.Contains(msg, "did not find expected ',' or '}'"):
		msg = "a { mapping is not closed, expected entries separated by ',' and a closing }"
	case strings.Contains(msg, "did not find expected key") || strings.Contains(msg, "did not find expected '-' indicator"):
		if l := badDedent(lines); l > 0 {
			line = l
		}
		msg = "this line is indented differently from the lines above it, expected it to line up with the field or list item it belongs to"
	default:
		msg += " (expected YAML indented with spaces: key: value pairs and '- ' list items)"
	}
	if line > len(lines) {
		line = len(lines)
	}
	return &Error{File: name, Line: line, Msg: "not valid YAML: " + msg}
}

// firstTabIndent is the line (1-based) of the first line with a tab in its leading white
// space, or 0.
func firstTabIndent(lines []string) int {
	for i, l := range lines {
		if strings.Contains(l[:len(l)-len(strings.TrimLeft(l, " \t"))], "\t") {
			return i + 1
		}
	}
	return 0
}

// badDedent finds the first line that moves left to an indentation no line above it opened,
// the usual cause of yaml.v3's "did not find expected key" (which names an earlier line). It
// returns 0 when it finds none.
func badDedent(lines []string) int {
	var stack []int // open indentations, increasing
	for i, l := range lines {
		body := strings.TrimLeft(l, " ")
		if body == "" || strings.HasPrefix(body, "#") {
			continue
		}
		indent := len(l) - len(body)
		dedent := false
		for len(stack) > 0 && stack[len(stack)-1] > indent {
			stack = stack[:len(stack)-1]
			dedent = true
		}
		if dedent && (len(stack) == 0 || stack[len(stack)-1] != indent) {
			return i + 1
		}
		if len(stack) == 0 || stack[len(stack)-1] < indent {
			stack = append(stack, indent)
		}
		// "- key: v" opens a second level where the item's content begins.
		for strings.HasPrefix(body, "- ") {
			rest := strings.TrimLeft(body[2:], " ")
			indent += len(body) - len(rest)
			stack = append(stack, indent)
			body = rest
		}
	}
	return 0
}

// unclosedQuote finds the line of a quoted scalar that is never closed. It follows YAML's
// quoting well enough for the usual case: a quote opens a value only at the start of a line,
// list item, flow entry or after "key: ", and "#" begins a comment outside quotes.
func unclosedQuote(lines []string) (line int, quote byte, ok bool) {
	var in byte
	start := 0
	for i, l := range lines {
		prev := byte('\n') // what precedes the character, ignoring spaces
		for j := 0; j < len(l); j++ {
			c := l[j]
			switch {
			case in == '\'' && c == '\'':
				if j+1 < len(l) && l[j+1] == '\'' {
					j++
					continue
				}
				in = 0
			case in == '"' && c == '\\':
				j++
			case in == '"' && c == '"':
				in = 0
			case in != 0:
			case c == '#' && (j == 0 || l[j-1] == ' ' || l[j-1] == '\t'):
				j = len(l)
			case (c == '"' || c == '\'') && strings.IndexByte("\n:-[{,?", prev) >= 0:
				in, start = c, i+1
			}
			if c != ' ' && c != '\t' {
				prev = c
			}
		}
	}
	return start, in, in != 0
}

// invalidUTF8Line returns the line of the first byte that is not UTF-8, and false, if any.
func invalidUTF8Line(data []byte) (int, bool) {
	if utf8.Valid(data) {
		return 0, true
	}
	line := 1
	for len(data) > 0 {
		r, size := utf8.DecodeRune(data)
		if r == utf8.RuneError && size <= 1 {
			return line, false
		}
		if r == '\n' {
			line++
		}
		data = data[size:]
	}
	return line, false
}
