package bluegreen

import (
	"context"
	"fmt"
	"time"

	"upshift.dev/upshift/internal/providers/cluster"
)

// DeployGreen is T1: green with blue's pools at the target version, then
// the platform validation.
func (m *Move) DeployGreen(ctx context.Context) (string, error) {
	st := m.Status()
	if st.Baseline == nil {
		return "", fmt.Errorf("T0 has not recorded blue's baseline: green copies blue's pools from it")
	}
	green := st.Green
	start := time.Now()
	spec := cluster.Spec{Name: green, KubernetesVersion: m.TargetVersion}
	for _, p := range st.Baseline.NodePools {
		image := p.NodeImage
		if m.NodeImage != "" {
			image = m.NodeImage
		}
		spec.NodePools = append(spec.NodePools, cluster.NodePoolSpec{Name: p.Name, Count: p.Count, NodeImage: image})
	}
	if got, err := m.Provider.Get(ctx, green); err == nil {
		if got.KubernetesVersion != m.TargetVersion {
			return "", fmt.Errorf("a cluster named %s already runs %s, not %s: it is not this run's green; delete it (upshift local down %s) and resume", green, got.KubernetesVersion, m.TargetVersion, green)
		}
		// Made before a restart, maybe cut short: Create again makes sure
		// all of it runs, and creates nothing new.
		m.progress("green %s exists at %s (made before a restart): making sure it runs", green, got.KubernetesVersion)
	} else {
		m.progress("creating green %s at %s with %d pool(s)", green, m.TargetVersion, len(spec.NodePools))
	}
	if _, err := m.Provider.Create(ctx, spec); err != nil {
		return "", fmt.Errorf("creating green %s: %w", green, err)
	}
	gc, err := m.Resolve(green)
	if err != nil {
		return "", err
	}
	report, err := validatePlatform(ctx, m.Provider, gc, m.TargetVersion, st.Baseline.NodePools)
	if err != nil {
		return "", fmt.Errorf("green %s failed platform validation: %w", green, err)
	}
	return fmt.Sprintf("green %s ready in %s; %s", green, time.Since(start).Round(100*time.Millisecond), report), nil
}
