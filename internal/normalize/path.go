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
	if isClean(decoded) {
		return cleanPathFast(decoded)
	}
	return cleanPathSlow(decoded)
}

// cleanPathSlow is CleanPath for any path.
func cleanPathSlow(decoded string) Path {
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

	// PATH_INFO: the first segment followed by more (if only a '/') that runs as PHP is the script
	// (Apache's AcceptPathInfo for PHP, nginx's fastcgi_split_path_info ^(.+?\.php)(/.*)$).
	end, split := len(segs), false
	for i := 0; i < len(segs); i++ {
		if (i < len(segs)-1 || trailing) && IsPHP(segs[i]) {
			end, split = i+1, true
			break
		}
	}
	script := segs[:end]
	if split {
		out.PathInfo = out.Clean[scriptLen(script):]
	}
	if len(script) == 0 || trailing && !split { // a folder: its index page runs
		out.Script = out.Clean
		return out
	}
	last := script[len(script)-1]
	out.PHP = IsPHP(last)
	if folded := foldExtensions(last); folded != last || split {
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
	if lower := asciiLower(ext); lower != ext {
		return name[:i] + lower
	}
	return name
}

// asciiLower lowercases A to Z only (extensions are ASCII; other bytes stay as they are, so
// the length never changes), allocating only when there is something to lower.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; c >= 'A' && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// isClean reports whether p needs no cleaning: it begins with '/' and holds no empty, '.' or
// '..' segment (but a final empty one: a trailing '/'), no '\\' and no NUL. Most requests.
func isClean(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	for i := 1; i < len(p); i++ {
		switch p[i] {
		case '\\', 0:
			return false
		case '/':
			if p[i-1] == '/' {
				return false
			}
		case '.':
			if p[i-1] == '/' {
				// "/." or "/.." followed by '/' or the end is a dot segment.
				j := i + 1
				if j < len(p) && p[j] == '.' {
					j++
				}
				if j == len(p) || p[j] == '/' {
					return false
				}
			}
		}
	}
	return true
}

// cleanPathFast is CleanPath for a clean path: no allocation unless the script's extensions
// need lowercasing.
func cleanPathFast(p string) Path {
	out := Path{Clean: p, Script: p}
	// The first segment short of the last that runs as PHP ends the script.
	start := 1
	for i := 1; i < len(p); i++ {
		if p[i] != '/' {
			continue
		}
		if IsPHP(p[start:i]) {
			out.Script, out.PathInfo = p[:i], p[i:]
			break
		}
		start = i + 1
	}
	lastStart := strings.LastIndexByte(out.Script, '/') + 1
	last := out.Script[lastStart:]
	out.PHP = IsPHP(last)
	if folded := foldExtensions(last); folded != last {
		out.Script = out.Script[:lastStart] + folded
	}
	return out
}
