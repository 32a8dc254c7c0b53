package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// Cluster is a member cluster of a fleet: which provider runs it and how to
// reach it.
// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=fc;fleetcluster,categories=upshift
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Provider",type=string,JSONPath=`.spec.provider`
// +kubebuilder:printcolumn:name="Group",type=string,JSONPath=`.spec.group`
// +kubebuilder:printcolumn:name="Version",type=string,JSONPath=`.status.kubernetesVersion`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Cluster struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ClusterSpec   `json:"spec"`
	Status ClusterStatus `json:"status,omitempty"`
}

// ClusterSpec says how to reach a cluster.
type ClusterSpec struct {
	// Provider runs the cluster: local (the local fleet), exec (commands
	// you write for any other platform), or kubeconfig (any cluster
	// reachable with a kubeconfig: scans and gates, no upgrades).
	// +kubebuilder:validation:Enum=local;exec;kubeconfig;aks
	Provider string `json:"provider"`
	// Local names a local fleet cluster (provider local).
	Local *LocalClusterRef `json:"local,omitempty"`
	// Exec says which commands drive the cluster (provider exec).
	Exec *ExecCluster `json:"exec,omitempty"`
	// AKS names an Azure Kubernetes Service cluster (provider aks).
	AKS *AKSCluster `json:"aks,omitempty"`
	// Kubeconfig is the path of a kubeconfig, relative to the fleet file:
	// how provider kubeconfig reaches the cluster, and how provider exec
	// does when its get command names none. Empty uses $KUBECONFIG or
	// ~/.kube/config.
	Kubeconfig string `json:"kubeconfig,omitempty"`
	// KubeconfigSecretRef names a Secret in the hub's namespace whose key
	// holds the kubeconfig (hub mode: instead of spec.kubeconfig, which
	// is a path on the machine that reads the fleet). The hub reads it
	// each time it drives the run and writes it to a private file; it is
	// never copied into a run's status, fleet or audit trail.
	KubeconfigSecretRef *SecretKeyRef `json:"kubeconfigSecretRef,omitempty"`
	// Context in the kubeconfig; empty uses its current context.
	Context string `json:"context,omitempty"`
	// Group puts the cluster in an update group, as Azure Fleet groups do.
	Group string `json:"group,omitempty"`
	// MaintenanceWindow, when set, holds every step of an update run on
	// this cluster until the window is open; a step under way when it
	// closes finishes.
	MaintenanceWindow *MaintenanceWindow `json:"maintenanceWindow,omitempty"`
}

// SecretKeyRef names a key of a Secret in the same namespace.
type SecretKeyRef struct {
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	Name string `json:"name"`
	// Key of the Secret's data (default "kubeconfig").
	// +optional
	Key string `json:"key,omitempty"`
}

// LocalClusterRef names a cluster of the local fleet.
type LocalClusterRef struct {
	Name string `json:"name"`
}

// ExecCluster drives a cluster through a command of the user's, which
// speaks the JSON contract of docs/providers/exec.md: one operation per
// invocation, the request on stdin and in UPSHIFT_EXEC_* variables, the
// answer as JSON on stdout.
type ExecCluster struct {
	// Name is the platform's name of the cluster, passed to the command.
	Name string `json:"name"`
	// Command and its arguments; the operation is appended as the last
	// argument. A relative path is taken from the fleet file's folder.
	Command []string `json:"command"`
	// Env adds variables to the command's environment.
	Env map[string]string `json:"env,omitempty"`
	// EnvSecretRefs adds variables whose values a hub reads from Secrets
	// of its namespace labelled upshift.dev/member-credentials=true (key
	// default: the variable's name). They reach the command alone, never
	// the run's frozen fleet, status or log. The CLI reads no Secrets:
	// give env there.
	EnvSecretRefs map[string]SecretKeyRef `json:"envSecretRefs,omitempty"`
	// Timeouts per operation (get, versions, upgrade-control-plane,
	// upgrade-node-pool, create, delete), as Go durations ("45m"). A
	// command still running at its timeout is stopped and the step fails.
	Timeouts map[string]metav1.Duration `json:"timeouts,omitempty"`
}

// AKSCluster names a managed cluster in Azure Resource Manager.
type AKSCluster struct {
	SubscriptionID string `json:"subscriptionID"`
	ResourceGroup  string `json:"resourceGroup"`
	Name           string `json:"name"`
	// ARMEndpoint is Azure Resource Manager's address: empty for Azure's
	// public cloud, a sovereign cloud's (https://management.usgovcloudapi.net),
	// or the local Azure emulator's (`upshift local azure`, loopback only).
	ARMEndpoint string `json:"armEndpoint,omitempty"`
	// AdminCredentials reaches the API server with the cluster's admin
	// credentials instead of the user credentials.
	AdminCredentials bool `json:"adminCredentials,omitempty"`
	// IngressService is the namespace/name of the LoadBalancer Service in
	// front of the cluster's ingress controller: a blue-green move routes
	// to the address it got (default app-routing-system/nginx, the
	// application routing add-on's).
	IngressService string `json:"ingressService,omitempty"`
	// NodeImageFeed is a NodeImageFeed file listing the node images this
	// cluster's pools run, with the CVEs each fixes: AKS names each pool's
	// newest image but publishes no CVE data. The compliance report,
	// upshift patch and the NodeImage channel read CVEs from it. A
	// relative path is taken from the fleet file's folder; a hub refuses
	// it (it would read a file of the controller's pod).
	NodeImageFeed string `json:"nodeImageFeed,omitempty"`
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

// LabelMemberCredentials marks a Secret a hub may read a member's
// kubeconfig from (value "true"); a Cluster naming any other Secret is
// refused.
const LabelMemberCredentials = "upshift.dev/member-credentials"

// LabelNotificationURL marks a Secret a hub may read a notification
// sink's URL from (value "true"; NotificationSink urlSecretRef).
const LabelNotificationURL = "upshift.dev/notification-url"

// LabelTrafficCredentials marks a Secret a hub may read a traffic
// provider's credential from (spec.blueGreen.traffic.gateway.tokenSecretRef,
// dns.keySecretRef).
const LabelTrafficCredentials = "upshift.dev/traffic-credentials"

// Cluster providers.
const (
	ProviderLocal      = "local"
	ProviderExec       = "exec"
	ProviderAKS        = "aks"
	ProviderKubeconfig = "kubeconfig"
)
