package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// Cluster is a member cluster of a fleet: which provider runs it and how to
// reach it.
// +kubebuilder:object:root=true
type Cluster struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ClusterSpec   `json:"spec"`
	Status ClusterStatus `json:"status,omitempty"`
}

// ClusterSpec says how to reach a cluster.
type ClusterSpec struct {
	// Provider runs the cluster: local (the local fleet) or kubeconfig (any
	// cluster reachable with a kubeconfig).
	Provider string `json:"provider"`
	// Local names a local fleet cluster (provider local).
	Local *LocalClusterRef `json:"local,omitempty"`
	// Kubeconfig is the path of a kubeconfig (provider kubeconfig); empty
	// uses $KUBECONFIG or ~/.kube/config.
	Kubeconfig string `json:"kubeconfig,omitempty"`
	// Context in the kubeconfig; empty uses its current context.
	Context string `json:"context,omitempty"`
	// Group puts the cluster in an update group, as Azure Fleet groups do.
	Group string `json:"group,omitempty"`
}

// LocalClusterRef names a cluster of the local fleet.
type LocalClusterRef struct {
	Name string `json:"name"`
}

// ClusterStatus is what upshift last observed of the cluster.
type ClusterStatus struct {
	// KubernetesVersion is the control plane's version.
	KubernetesVersion string             `json:"kubernetesVersion,omitempty"`
	NodePools         []NodePoolStatus   `json:"nodePools,omitempty"`
	Conditions        []metav1.Condition `json:"conditions,omitempty"`
}

// NodePoolStatus is a node pool as observed.
type NodePoolStatus struct {
	Name              string `json:"name"`
	Count             int    `json:"count"`
	KubernetesVersion string `json:"kubernetesVersion,omitempty"`
	NodeImage         string `json:"nodeImage,omitempty"`
}

// Cluster condition types and reasons.
const (
	// ConditionReachable is True when upshift could read the cluster.
	ConditionReachable = "Reachable"

	ReasonObserved    = "Observed"
	ReasonUnreachable = "Unreachable"
)

// Cluster providers.
const (
	ProviderLocal      = "local"
	ProviderKubeconfig = "kubeconfig"
)
