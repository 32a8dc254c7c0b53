package methods

import (
	"time"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/nodepool"
	"upshift.dev/upshift/internal/providers/cluster"
)

// PoolUpgrade is how a run upgrades each pool to image ("" keeps the
// pool's): the target version of a Full upgrade, and the run's
// nodeUpgrade settings.
func PoolUpgrade(spec v1alpha1.UpdateRunSpec, image string) cluster.NodePoolUpgrade {
	up := cluster.NodePoolUpgrade{NodeImage: image, OnUndrainable: spec.NodeUpgrade.UndrainableNodeBehavior}
	if spec.Upgrade.Type == v1alpha1.UpgradeFull {
		up.KubernetesVersion = spec.Upgrade.KubernetesVersion
	}
	if s := spec.NodeUpgrade.MaxSurge; s != nil {
		up.MaxSurge = *s
	}
	if d := spec.NodeUpgrade.DrainTimeout; d != nil {
		up.DrainTimeout = d.Duration
	}
	if d := spec.NodeUpgrade.NodeSoakDuration; d != nil {
		up.Soak = d.Duration
	}
	// An escalation's Cordon and Fail are undrainableNodeBehavior's
	// Cordon and Schedule after its time; DeletePod drains first for its
	// time, then for the drain timeout.
	if un := spec.NodeUpgrade.Undrainable; un != nil {
		var after time.Duration
		if un.After != nil {
			after = un.After.Duration
		}
		switch un.Then {
		case v1alpha1.EscalateCordon:
			up.OnUndrainable = nodepool.UndrainableCordon
		case v1alpha1.EscalateFail:
			up.OnUndrainable = nodepool.UndrainableSchedule
		case v1alpha1.EscalateDeletePod:
			up.DeleteBlockers, up.AllowLocalData, up.EscalateAfter = true, un.AllowLocalData, after
			after = 0
		}
		if after > 0 {
			up.DrainTimeout = after
		}
	}
	if ns := spec.NodeUpgrade.NodeSoak; ns != nil {
		up.SoakReadyPods = ns.ReadyPods
		if ns.Timeout != nil {
			up.SoakReadyTimeout = ns.Timeout.Duration
		}
	}
	return up
}
