package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ApprovalRequest is a run's request for an approval on a hub (Azure
// Fleet's and KubeFleet's approval requests): the hub creates one when a
// run waits for a stage's Approval task or a cluster's Approval gate, and
// whoever RBAC lets update approvalrequests/status approves it by setting
// the Approved condition to True. The CLI's `upshift approve --context HUB` does.
// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=apr,categories=upshift
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Run",type=string,JSONPath=`.spec.updateRun`
// +kubebuilder:printcolumn:name="Approval",type=string,JSONPath=`.spec.key`
// +kubebuilder:printcolumn:name="Approved",type=string,JSONPath=`.status.conditions[?(@.type=="Approved")].status`
// +kubebuilder:printcolumn:name="By",type=string,JSONPath=`.status.approvedBy`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ApprovalRequest struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ApprovalRequestSpec   `json:"spec"`
	Status ApprovalRequestStatus `json:"status,omitempty"`
}

// ApprovalRequestSpec says what waits for approval.
type ApprovalRequestSpec struct {
	// UpdateRun is the waiting run, in the request's namespace.
	// +kubebuilder:validation:MinLength=1
	UpdateRun string `json:"updateRun"`
	// Key is what is approved, as `upshift approve` names it:
	// stage/STAGE, stage/STAGE/TASK, cluster/CLUSTER/GATE or
	// cluster/CLUSTER/promote.
	// +kubebuilder:validation:Pattern=`^(stage/[a-z0-9]([-a-z0-9.]*[a-z0-9])?(/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?|cluster/[a-z0-9]([-a-z0-9.]*[a-z0-9])?/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$`
	Key string `json:"key"`
	// Message says why the run asks, for people.
	Message string `json:"message,omitempty"`
}

// ApprovalRequestStatus holds the answer.
type ApprovalRequestStatus struct {
	// Conditions: Approved (True when approved).
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// ApprovedBy is who approved, as they said (the hub records the
	// requesting user from the API server beside it).
	ApprovedBy string `json:"approvedBy,omitempty"`
}

// ConditionApproved is an ApprovalRequest's approval.
const ConditionApproved = "Approved"
