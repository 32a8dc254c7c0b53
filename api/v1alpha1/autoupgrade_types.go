package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Auto-upgrade channels (Azure Fleet's).
const (
	// ChannelStable is the newest patch of the minor before the newest.
	ChannelStable = "Stable"
	// ChannelRapid is the newest version.
	ChannelRapid = "Rapid"
	// ChannelPatch is the newest patch of each cluster's current minor.
	ChannelPatch = "Patch"
	// ChannelNodeImage is the newest node image, Kubernetes unchanged.
	ChannelNodeImage = "NodeImage"
	// ChannelTargetKubernetesVersion is the newest patch of the minor the
	// profile names.
	ChannelTargetKubernetesVersion = "TargetKubernetesVersion"
)

// Channels lists the auto-upgrade channels.
var Channels = []string{ChannelStable, ChannelRapid, ChannelPatch, ChannelNodeImage, ChannelTargetKubernetesVersion}

// AutoUpgradeProfile makes update runs when its channel offers something
// new (Azure Fleet's auto-upgrade profile): `upshift schedule` watches the
// providers' versions and node images and creates one run per new target,
// which waits for the clusters' maintenance windows.
// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=aup,categories=upshift
// +kubebuilder:printcolumn:name="Channel",type=string,JSONPath=`.spec.channel`
// +kubebuilder:printcolumn:name="Target",type=string,JSONPath=`.spec.targetKubernetesVersion`
// +kubebuilder:printcolumn:name="Disabled",type=boolean,JSONPath=`.spec.disabled`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type AutoUpgradeProfile struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec AutoUpgradeProfileSpec `json:"spec"`
}

// AutoUpgradeProfileSpec says what to follow and how to roll it out.
type AutoUpgradeProfileSpec struct {
	// Channel is Stable, Rapid, Patch, NodeImage or TargetKubernetesVersion.
	// +kubebuilder:validation:Enum=Stable;Rapid;Patch;NodeImage;TargetKubernetesVersion
	Channel string `json:"channel"`
	// TargetKubernetesVersion is the minor (e.g. "1.36") of channel
	// TargetKubernetesVersion.
	// +kubebuilder:validation:Pattern=`^v?[0-9]+\.[0-9]+$`
	TargetKubernetesVersion string `json:"targetKubernetesVersion,omitempty"`
	// StrategyRef names an UpdateStrategy of the profiles file; Strategy
	// inlines one. Runs use it as their strategy.
	StrategyRef *StrategyRef        `json:"strategyRef,omitempty"`
	Strategy    *UpdateStrategySpec `json:"strategy,omitempty"`
	// NodeImageSelection of the runs: Latest (the default) or Consistent.
	NodeImageSelection *NodeImageSelection `json:"nodeImageSelection,omitempty"`
	// NodeUpgrade, Gates and FailurePolicy are copied into each run.
	NodeUpgrade   NodeUpgradeSpec `json:"nodeUpgrade,omitempty"`
	Gates         RunGates        `json:"gates,omitempty"`
	FailurePolicy FailurePolicy   `json:"failurePolicy,omitempty"`
	// Disabled profiles make no runs.
	Disabled bool `json:"disabled,omitempty"`
}
