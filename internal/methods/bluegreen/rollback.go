package bluegreen

import (
	"context"
	"fmt"
	"time"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/freeze"
	"upshift.dev/upshift/internal/providers/traffic"
)

// Rollback sends the cluster name's traffic back to blue and lifts the
// freeze; green stays for inspection. Refused once blue is gone.
func (m *Move) Rollback(ctx context.Context, reason string) error {
	st := m.Status()
	if st.BlueDeleted != nil {
		return fmt.Errorf("blue %s was destroyed at %s: there is nothing to roll back to", m.Blue.Name, st.BlueDeleted.Format(time.RFC3339))
	}
	m.progress("rolling back: %s", reason)
	if err := m.switchBack(ctx); err != nil {
		return fmt.Errorf("switching %s back to blue: %w", m.hosts().Cluster, err)
	}
	if ttl, ok := m.Traffic.(traffic.TTLManager); ok {
		_ = ttl.RestoreTTL(ctx, m.hosts().Cluster)
	}
	if err := m.lift(ctx); err != nil {
		return err
	}
	m.Record(func(s *v1alpha1.BlueGreenStatus) { s.RolledBack, s.RollbackReason = now(), reason })
	return nil
}

func (m *Move) lift(ctx context.Context) error {
	if !m.frozen() {
		return nil
	}
	if err := freeze.Lift(ctx, m.Blue.RESTConfig, m.Run, m.identities()); err != nil {
		return fmt.Errorf("lifting the freeze on blue: %w", err)
	}
	m.Record(func(s *v1alpha1.BlueGreenStatus) {
		if s.FreezeLifted == nil {
			s.FreezeLifted = now()
		}
	})
	return nil
}
