package gctune

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// SmallHeap turns proportional collection off and collects when the
// process's Go memory reaches limit bytes, until a collection finds more
// than half the limit live: from then on Go's defaults (GOGC=100, no
// limit) hold. It does nothing when GOGC or GOMEMLIMIT is set: the user's
// choice wins. It returns whether it changed anything.
func SmallHeap(limit int64) bool {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return false
	}
	debug.SetGCPercent(-1)
	debug.SetMemoryLimit(limit)
	w := &watch{limit: limit, sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
	w.arm()
	return true
}

// watch looks at the live heap after each collection (a finalizer runs
// once per cycle that finds its object unreachable).
type watch struct {
	limit  int64
	sample []metrics.Sample
	once   sync.Once
}

func (w *watch) arm() {
	sentinel := new([16]byte)
	runtime.SetFinalizer(sentinel, func(*[16]byte) {
		if w.live() > w.limit/2 {
			w.once.Do(restore)
			return
		}
		w.arm()
	})
}

func (w *watch) live() int64 {
	metrics.Read(w.sample)
	if w.sample[0].Value.Kind() != metrics.KindUint64 {
		return math.MaxInt64 // unknown: be safe
	}
	return int64(w.sample[0].Value.Uint64())
}

func restore() {
	debug.SetGCPercent(100)
	debug.SetMemoryLimit(math.MaxInt64)
}
