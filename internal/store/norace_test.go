//go:build !race

package store

// raceEnabled: the race detector multiplies memory and time; measurements skip.
const raceEnabled = false
