package pass

import "fmt"

// Level is the kind of challenge a visitor passed. Levels are ordered: a pass
// earned at a stronger level satisfies a demand for a weaker one.
type Level uint8

// The challenge levels, weakest first.
const (
	// LevelNone is the zero value: no challenge passed. It never appears in a
	// valid pass.
	LevelNone Level = iota
	// LevelCookie: the client kept a cookie set by a page without JavaScript.
	LevelCookie
	// LevelScript: the client ran a short script that computed an answer.
	LevelScript
	// LevelWork: the client solved a SHA-256 proof of work.
	LevelWork
)

// String returns the level's name as used in rule files and metrics labels:
// "cookie", "script", "work" (or "none").
func (l Level) String() string {
	switch l {
	case LevelCookie:
		return "cookie"
	case LevelScript:
		return "script"
	case LevelWork:
		return "work"
	case LevelNone:
		return "none"
	}
	return "invalid"
}

// Valid reports whether l is one of cookie, script or work.
func (l Level) Valid() bool { return l >= LevelCookie && l <= LevelWork }

// Satisfies reports whether a pass at level l is enough where level need is
// demanded.
func (l Level) Satisfies(need Level) bool { return l.Valid() && l >= need }

// ParseLevel reads a level name ("cookie", "script" or "work").
func ParseLevel(s string) (Level, error) {
	switch s {
	case "cookie":
		return LevelCookie, nil
	case "script":
		return LevelScript, nil
	case "work":
		return LevelWork, nil
	}
	return LevelNone, fmt.Errorf("challenge level %q: expected cookie, script or work", s)
}
