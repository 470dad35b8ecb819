//go:build race

package challenge

// raceEnabled says the tests run under the race detector, which allocates on its own.
const raceEnabled = true
