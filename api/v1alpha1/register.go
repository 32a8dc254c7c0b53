package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// SchemeGroupVersion is the group and version of the objects on a hub.
var SchemeGroupVersion = schema.GroupVersion{Group: "upshift.dev", Version: "v1alpha1"}

var (
	// SchemeBuilder registers the types with a scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)
	// AddToScheme adds the types to a scheme (a hub client's).
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(SchemeGroupVersion,
		&UpdateRun{}, &UpdateRunList{},
		&UpdateStrategy{}, &UpdateStrategyList{},
		&Cluster{}, &ClusterList{},
		&AutoUpgradeProfile{}, &AutoUpgradeProfileList{},
		&ApprovalRequest{}, &ApprovalRequestList{},
		&UpdateRunMember{}, &UpdateRunMemberList{},
	)
	metav1.AddToGroupVersion(s, SchemeGroupVersion)
	return nil
}

// UpdateRunList is a list of UpdateRuns.
// +kubebuilder:object:root=true
type UpdateRunList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []UpdateRun `json:"items"`
}

// UpdateStrategyList is a list of UpdateStrategies.
// +kubebuilder:object:root=true
type UpdateStrategyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []UpdateStrategy `json:"items"`
}

// ClusterList is a list of Clusters.
// +kubebuilder:object:root=true
type ClusterList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Cluster `json:"items"`
}

// AutoUpgradeProfileList is a list of AutoUpgradeProfiles.
// +kubebuilder:object:root=true
type AutoUpgradeProfileList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AutoUpgradeProfile `json:"items"`
}

// ApprovalRequestList is a list of ApprovalRequests.
// +kubebuilder:object:root=true
type ApprovalRequestList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ApprovalRequest `json:"items"`
}
