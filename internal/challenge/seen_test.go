package challenge

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestMemorySeen(t *testing.T) {
	clock := setNow(t, time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))
	ctx := context.Background()
	m := NewMemorySeen(3)
	step := func(key string, want bool) {
		t.Helper()
		got, err := m.FirstUse(ctx, key, time.Minute)
		if err != nil || got != want {
			t.Fatalf("FirstUse(%q) = %v, %v; want %v", key, got, err, want)
		}
	}
	step("a", true)
	step("a", false)
	step("b", true)
	*clock = clock.Add(time.Minute) // a and b expire
	step("a", true)
	step("b", true)
	step("b", false)
	step("c", true)
	step("d", true) // full: forgets the oldest, a
	if m.Len() != 3 {
		t.Errorf("Len %d, want 3", m.Len())
	}
	step("c", false)
	step("d", false)
	step("a", true) // forgotten, so seen as new (the documented bound)
	for i := 0; i < 1000; i++ {
		m.FirstUse(ctx, fmt.Sprint(i), time.Minute)
	}
	if m.Len() > 3 || len(m.order)-m.head > 3 {
		t.Errorf("bound broken: %d keys, %d queued", m.Len(), len(m.order)-m.head)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := m.FirstUse(cancelled, "z", time.Minute); err == nil {
		t.Error("cancelled context: no error")
	}
}
