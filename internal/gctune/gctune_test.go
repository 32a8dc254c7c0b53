package gctune

import (
	"math"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// TestSmallHeapGivesWayToALargeOne: with a small live heap the collector
// runs on the limit (GOGC off); once a collection finds more than half the
// limit live, Go's defaults come back, so a command whose heap turns out
// large never collects back to back against the limit.
func TestSmallHeapGivesWayToALargeOne(t *testing.T) {
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	defer restore()
	if !SmallHeap(64 << 20) {
		t.Fatal("SmallHeap changed nothing with GOGC and GOMEMLIMIT unset")
	}
	if p := debug.SetGCPercent(-1); p != -1 {
		t.Fatalf("GOGC is %d after SmallHeap, want off", p)
	}
	runtime.GC()
	time.Sleep(50 * time.Millisecond) // the finalizer runs on its own goroutine
	if p := debug.SetGCPercent(-1); p != -1 {
		t.Fatalf("GOGC came back (%d) while the live heap is small", p)
	}
	big := make([]byte, 48<<20) // live, and more than half the limit
	for i := range big {
		big[i] = 1
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		runtime.GC()
		time.Sleep(20 * time.Millisecond)
		p := debug.SetGCPercent(-1)
		debug.SetGCPercent(p)
		if p == 100 && debug.SetMemoryLimit(-1) == math.MaxInt64 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GOGC is still %d with %d MiB live; want 100 and no limit", p, len(big)>>20)
		}
	}
	runtime.KeepAlive(big)
}

// TestUserSettingsWin: GOGC or GOMEMLIMIT in the environment leaves the
// collector alone.
func TestUserSettingsWin(t *testing.T) {
	t.Setenv("GOGC", "200")
	if SmallHeap(64 << 20) {
		t.Error("SmallHeap changed the collector although GOGC is set")
	}
}
