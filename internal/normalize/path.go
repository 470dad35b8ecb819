package normalize

import "strings"

// Path is a request path as the backend resolves it.
type Path struct {
	// Clean is the decoded path with '\' read as '/', runs of '/' merged and '.' and '..'
	// segments resolved (never above the root); a trailing '/' is kept. It always begins
	// with '/'.
	Clean string
	// Script is the file the backend runs: Clean without its PATH_INFO (/x.php/y → /x.php),
	// with the extensions of its last segment lowercased (X.PHP → X.php, a.PhP.JpG →
	// a.php.jpg). Rules and exemptions match this.
	Script string
	// PathInfo is what follows Script in Clean ("/y" for /x.php/y), empty without one.
	PathInfo string
	// PHP is true when Script's last segment runs as PHP (see IsPHP).
	PHP bool
	// Altered is true when the path as sent differs from Clean: the client spelled it in a
	// way a plain client does not (merged slashes, dot segments, backslashes).
	Altered bool
}

// CleanPath resolves a decoded request path (net/http's URL.Path: percent-decoding done once,
// %2F already a '/', as nginx decodes it; Apache refuses %2F by default, so reading it as a
// '/' never lets through what Apache would serve).
func CleanPath(decoded string) Path {
	p := decoded
	if i := strings.IndexByte(p, 0); i >= 0 {
		// Apache and nginx refuse a NUL in a path (400/404); old PHP stopped a file name at
		// it. Match what PHP would have opened.
		p = p[:i]
	}
	p = strings.ReplaceAll(p, `\`, "/")
	segs := make([]string, 0, strings.Count(p, "/")+1)
	trailing := false
	for seg := range strings.SplitSeq(p, "/") {
		trailing = false
		switch seg {
		case "":
			trailing = true
			continue
		case ".":
			trailing = true
			continue
		case "..":
			trailing = true
			if len(segs) > 0 {
				segs = segs[:len(segs)-1]
			}
			continue
		}
		segs = append(segs, seg)
	}
	var b strings.Builder
	b.Grow(len(p) + 1)
	for _, s := range segs {
		b.WriteByte('/')
		b.WriteString(s)
	}
	if len(segs) == 0 || trailing {
		b.WriteByte('/')
	}
	out := Path{Clean: b.String()}
	out.Altered = out.Clean != decoded

	// PATH_INFO: the first segment, short of the last, that runs as PHP is the script
	// (Apache's AcceptPathInfo for PHP, nginx's fastcgi_split_path_info ^(.+?\.php)(/.*)$).
	end := len(segs)
	for i := 0; i < len(segs)-1; i++ {
		if IsPHP(segs[i]) {
			end = i + 1
			break
		}
	}
	script := segs[:end]
	if end < len(segs) {
		out.PathInfo = out.Clean[scriptLen(script):]
	}
	if len(script) == 0 {
		out.Script = "/"
		return out
	}
	last := script[len(script)-1]
	out.PHP = IsPHP(last)
	if folded := foldExtensions(last); folded != last || end < len(segs) {
		b.Reset()
		for _, s := range script[:len(script)-1] {
			b.WriteByte('/')
			b.WriteString(s)
		}
		b.WriteByte('/')
		b.WriteString(folded)
		out.Script = b.String()
	} else {
		out.Script = out.Clean
	}
	return out
}

// scriptLen is the length of the path made of segs.
func scriptLen(segs []string) int {
	n := 0
	for _, s := range segs {
		n += 1 + len(s)
	}
	return n
}

// foldExtensions lowercases what follows the first '.' of a file name (not a leading one):
// Apache maps extensions to handlers case-insensitively.
func foldExtensions(name string) string {
	i := strings.IndexByte(name[min(1, len(name)):], '.')
	if i < 0 {
		return name
	}
	i++
	ext := name[i:]
	if lower := strings.ToLower(ext); lower != ext {
		return name[:i] + lower
	}
	return name
}
