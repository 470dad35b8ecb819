package normalize

import "strings"

// staticExt are the file endings of static files: cheap for the backend, and many per page,
// so they count neither towards a site's attack rate nor as lessons for the admission limit.
var staticExt = map[string]bool{
	".css": true, ".js": true, ".mjs": true, ".map": true, ".png": true, ".jpg": true, ".jpeg": true,
	".gif": true, ".webp": true, ".avif": true, ".svg": true, ".ico": true, ".woff": true, ".woff2": true,
	".ttf": true, ".otf": true, ".eot": true, ".mp4": true, ".webm": true, ".mp3": true, ".ogg": true,
}

// IsStatic reports whether a path names a static file by its ending (case-insensitive). The
// handler and floodgate replay both ask it, so a replayed log counts pages as the server does.
func IsStatic(path string) bool {
	i := strings.LastIndexByte(path, '.')
	if i < 0 || strings.IndexByte(path[i:], '/') >= 0 {
		return false
	}
	return staticExt[strings.ToLower(path[i:])]
}
