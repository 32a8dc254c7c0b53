package bluegreen

import (
	"context"
	"fmt"
	"time"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/providers/traffic"
)

// RetireBlue is T4: after the soak, blue leaves the routes (green takes
// its dedicated name), is destroyed unless kept, and the freeze goes.
func (m *Move) RetireBlue(ctx context.Context, since time.Time) (string, error) {
	st := m.Status()
	if st.RolledBack != nil {
		return "", fmt.Errorf("the move was rolled back at %s: resume runs T2 and T3 again", st.RolledBack.Format(time.RFC3339))
	}
	if soak := m.Spec.BlueSoak; soak != nil && st.BlueDeleted == nil {
		if left := time.Until(since.Add(soak.Duration)); left > 0 {
			m.progress("blue %s soaks, ready for rollback, for %s more", m.Blue.Name, left.Round(time.Second))
			if err := sleep(ctx, left); err != nil {
				return "", err
			}
		}
	}
	h := m.hosts()
	w, err := m.Traffic.Weights(ctx, h.Cluster)
	if err != nil {
		return "", err
	}
	if w[m.Blue.Name] > 0 {
		return "", fmt.Errorf("route %s still sends %s: blue is not retired while it has traffic", h.Cluster, w)
	}
	if router, ok := m.Traffic.(traffic.Router); ok {
		r, err := router.Route(ctx, h.Cluster)
		if err != nil {
			return "", err
		}
		if keep := r.Without(m.Blue.Name); len(keep) != len(r.Backends) {
			r.Backends = keep
			if err := router.ApplyRoute(ctx, r); err != nil {
				return "", fmt.Errorf("taking blue out of %s: %w", h.Cluster, err)
			}
		}
		if g, ok := r.Backend(st.Green); ok {
			g.Weight = 100
			if err := router.ApplyRoute(ctx, traffic.Route{Host: h.Blue, UpstreamHost: h.Public, Backends: []traffic.Backend{g}}); err != nil {
				return "", fmt.Errorf("pointing %s at the new blue: %w", h.Blue, err)
			}
		}
	}
	msg := "blue " + m.Blue.Name + " kept (keepBlue)"
	if !m.Spec.KeepBlue {
		if err := m.Provider.Delete(ctx, m.Blue.Name); err != nil {
			return "", fmt.Errorf("destroying blue %s: %w", m.Blue.Name, err)
		}
		m.Record(func(s *v1alpha1.BlueGreenStatus) {
			if s.BlueDeleted == nil {
				s.BlueDeleted = now()
			}
			if s.FreezeApplied != nil && s.FreezeLifted == nil {
				s.FreezeLifted = now() // the policy went with the cluster
			}
		})
		msg = "blue " + m.Blue.Name + " destroyed"
	} else if err := m.lift(ctx); err != nil {
		return "", err
	}
	return msg + "; " + st.Green + " is the new blue", nil
}
