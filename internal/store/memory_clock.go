package store

import "time"

// NewMemoryAt is NewMemory counting on another clock than the system's: a replay of an old
// access log counts on the log's timestamps.
func NewMemoryAt(maxKeys int, now func() time.Time) *Memory {
	m := NewMemory(maxKeys)
	m.now = now
	return m
}
