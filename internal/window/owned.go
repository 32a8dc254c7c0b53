package window

import (
	"context"

	"upshift.dev/upshift/api/v1alpha1"
)

// Keeper is a cluster provider whose clusters keep maintenance windows of
// their own (AKS's maintenance configurations): a run's steps wait for
// them too, inside upshift's own window.
type Keeper interface {
	MaintenanceWindows(ctx context.Context, name string) ([]Owned, error)
}

// What a provider's maintenance window holds.
const (
	// HoldsVersions: Kubernetes version upgrades (control plane, pools).
	HoldsVersions = "versions"
	// HoldsNodeImages: node-image upgrades.
	HoldsNodeImages = "node images"
)

// Owned is one maintenance window a cluster's owners keep at its
// provider.
type Owned struct {
	// Source names it as its owner does ("AKS maintenance configuration
	// aksManagedAutoUpgradeSchedule").
	Source string
	// Holds is HoldsVersions or HoldsNodeImages.
	Holds string
	Spec  v1alpha1.MaintenanceWindow
}
