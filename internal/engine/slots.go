package engine

import (
	"sync"

	"upshift.dev/upshift/api/v1alpha1"
)

// slots are a group's places under its concurrency. A cluster parked in
// a step keeps its place when its turn ends: no other cluster of the
// group starts in it while that cluster is half-way.
type slots struct {
	mu            sync.Mutex
	cond          *sync.Cond
	free, running int
}

func newSlots(n int) *slots {
	s := &slots{free: n}
	s.cond = sync.NewCond(&s.mu)
	return s
}

// take waits for a free place; false when none will come, each being
// kept by a parked cluster.
func (s *slots) take() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.free == 0 {
		if s.running == 0 {
			return false
		}
		s.cond.Wait()
	}
	s.free--
	s.running++
	return true
}

// done ends a cluster's turn; keep holds its place.
func (s *slots) done(keep bool) {
	s.mu.Lock()
	s.running--
	if !keep {
		s.free++
	}
	s.mu.Unlock()
	s.cond.Broadcast()
}

// underWay is 1 for a cluster a drive left inside a step (parked there,
// or stopped while parked), which takes its place back before any other
// cluster of its group starts.
func underWay(c v1alpha1.StageClusterStatus) int {
	if c.Phase == v1alpha1.PhaseCompleted || c.Phase == v1alpha1.PhaseSkipped {
		return 0
	}
	for _, st := range c.Steps {
		if st.Start != nil && (st.Phase == v1alpha1.PhaseWaiting || st.Phase == v1alpha1.PhaseStopped) {
			return 1
		}
	}
	return 0
}
