package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// UpdateRunMember is one cluster's part of an UpdateRun on a hub: its
// phase, steps, messages and move, kept in an object of its own (as
// KubeFleet keeps each member's work) so that a run over thousands of
// clusters stays far below the API server's object limit, and a change
// of one cluster writes that cluster alone. The hub's driver writes it,
// owned by the run and deleted with it; reads through upshift (`status
// --context HUB`, the dashboard) put it back in its stage of the run's status.
// `kubectl get updaterunmembers -l upshift.dev/run=RUN` lists a run's.
// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=urm,categories=upshift
// +kubebuilder:printcolumn:name="Run",type=string,JSONPath=`.run`
// +kubebuilder:printcolumn:name="Stage",type=string,JSONPath=`.stage`
// +kubebuilder:printcolumn:name="Cluster",type=string,JSONPath=`.status.name`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Started",type=date,JSONPath=`.status.startTime`
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=`.status.message`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type UpdateRunMember struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Run is the UpdateRun, in the member's namespace.
	// +kubebuilder:validation:MinLength=1
	Run string `json:"run"`
	// Stage is the run's stage that holds the cluster.
	// +kubebuilder:validation:MinLength=1
	Stage string `json:"stage"`
	// Index is the cluster's place in the stage, from 0.
	// +kubebuilder:validation:Minimum=0
	Index int `json:"index"`
	// Status is the cluster's progress, as the run's status holds it.
	Status StageClusterStatus `json:"status"`
}

// UpdateRunMemberList is a list of UpdateRunMembers.
// +kubebuilder:object:root=true
type UpdateRunMemberList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []UpdateRunMember `json:"items"`
}
