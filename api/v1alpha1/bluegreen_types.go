package v1alpha1

import (
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BlueGreenSpec configures method BlueGreen: each cluster (blue) is
// replaced by a new cluster at the target version (green), filled with
// blue's state, validated, and put in front of users; blue stays ready
// for rollback until green has proven itself.
type BlueGreenSpec struct {
	// Traffic says how users reach the clusters and how to switch them.
	Traffic TrafficSpec `json:"traffic"`
	// Sync says how green gets blue's Kubernetes state (T2).
	Sync SyncSpec `json:"sync,omitempty"`
	// Freeze stops these deployers writing to blue from T2 to the end.
	Freeze FreezeSpec `json:"freeze,omitempty"`
	// Validation runs on green before the switch (T2).
	Validation BlueGreenValidation `json:"validation,omitempty"`
	// PostSwitch watches green after the switch (T3); a failure switches
	// back to blue.
	PostSwitch PostSwitchSpec `json:"postSwitch,omitempty"`
	// BlueSoak is how long blue stays, idle and ready for rollback, after
	// the post-switch window before it is destroyed (T4; default 0).
	BlueSoak *metav1.Duration `json:"blueSoak,omitempty"`
	// KeepBlue keeps blue running after T4 instead of destroying it.
	KeepBlue bool `json:"keepBlue,omitempty"`
}

// Traffic providers.
const (
	TrafficGateway        = "gateway"
	TrafficDNS            = "dns"
	TrafficTrafficManager = "trafficmanager"
	TrafficAzureDNS       = "azuredns"
	TrafficHAProxy        = "haproxy"
	TrafficGatewayAPI     = "gatewayapi"
	TrafficFrontDoor      = "frontdoor"
)

// TrafficSpec is the four-hostname scheme of the reference architecture
// and the provider that switches the cluster name.
type TrafficSpec struct {
	// Provider is gateway (upshift's front door), dns (RFC 2136),
	// trafficmanager (Azure Traffic Manager's weighted endpoints),
	// azuredns (an Azure DNS zone's record sets), frontdoor (weighted
	// origins of Azure Front Door origin groups), haproxy (servers of
	// HAProxy backends, through its runtime API) or gatewayapi (weighted
	// backendRefs of Gateway API HTTPRoutes).
	Provider string    `json:"provider"`
	Hosts    HostNames `json:"hosts"`
	// URL is where upshift's own probes reach the front door, e.g. the
	// gateway's listen address http://127.0.0.1:8080; requests carry the
	// Host of the name they test. Empty: the names resolve through DNS.
	URL string `json:"url,omitempty"`
	// HealthPath of the clusters' backends (default /).
	HealthPath string          `json:"healthPath,omitempty"`
	Gateway    *GatewayTraffic `json:"gateway,omitempty"`
	DNS        *DNSTraffic     `json:"dns,omitempty"`
	// TrafficManager reaches Azure Traffic Manager profiles.
	TrafficManager *TrafficManagerTraffic `json:"trafficManager,omitempty"`
	// AzureDNS reaches an Azure DNS zone.
	AzureDNS *AzureDNSTraffic `json:"azureDNS,omitempty"`
	// FrontDoor reaches an Azure Front Door (Standard/Premium) profile.
	FrontDoor *FrontDoorTraffic `json:"frontDoor,omitempty"`
	// HAProxy reaches an HAProxy's runtime API.
	HAProxy *HAProxyTraffic `json:"haproxy,omitempty"`
	// GatewayAPI reaches the cluster whose HTTPRoutes carry the names.
	GatewayAPI *GatewayAPITraffic `json:"gatewayAPI,omitempty"`
}

// GatewayAPITraffic names the cluster, namespace and Gateway of the
// HTTPRoutes (gateway.networking.k8s.io/v1) that carry the names: each
// name (hosts.cluster, hosts.blue, hosts.green) is an HTTPRoute of that
// name unless Routes says otherwise, each cluster a Service named after
// it that reaches the cluster's ingress (selector-less with an
// EndpointSlice for an address, ExternalName for a host name), and the
// switch sets the weights of the route's backendRefs.
type GatewayAPITraffic struct {
	// Kubeconfig and Context reach the cluster of the routes (default:
	// the kubeconfig loading rules and its current context).
	Kubeconfig string `json:"kubeconfig,omitempty"`
	Context    string `json:"context,omitempty"`
	// KubeconfigSecretRef is, on a hub, the kubeconfig of the routes'
	// cluster: a Secret of the hub's namespace labelled
	// upshift.dev/traffic-credentials=true (key "kubeconfig"), with its
	// credentials embedded (no exec plugin, no file).
	KubeconfigSecretRef *SecretKeyRef `json:"kubeconfigSecretRef,omitempty"`
	// Namespace of the routes and Services (default "default").
	Namespace string `json:"namespace,omitempty"`
	// ParentRef is the Gateway the routes attach to.
	ParentRef GatewayParentRef `json:"parentRef"`
	// Routes maps a host to its HTTPRoute where the names differ.
	Routes map[string]string `json:"routes,omitempty"`
	// AcceptTimeout is how long a change may wait for the Gateway's
	// implementation to accept it (status.parents Accepted and
	// ResolvedRefs at the route's generation) before the switch fails
	// (default 60 s).
	AcceptTimeout *metav1.Duration `json:"acceptTimeout,omitempty"`
}

// GatewayParentRef names a Gateway, and optionally one of its listeners.
type GatewayParentRef struct {
	Name string `json:"name"`
	// Namespace of the Gateway (default: the routes').
	Namespace   string `json:"namespace,omitempty"`
	SectionName string `json:"sectionName,omitempty"`
}

// HAProxyTraffic reaches an HAProxy whose backends serve the names: each
// name (hosts.cluster, hosts.blue, hosts.green) is a backend of the same
// name unless Backends says otherwise, and each cluster is a server of
// it named after the cluster. HAProxy's configuration declares the
// backends (they may start empty) and sends each host to its own, e.g.
// use_backend %[req.hdr(host),lower,field(1,:)].
type HAProxyTraffic struct {
	// RuntimeAPI is HAProxy's stats socket at level admin: a unix socket
	// path (/run/haproxy/admin.sock) or a TCP host:port.
	RuntimeAPI string `json:"runtimeAPI"`
	// Backends maps a host to the backend that serves it, where its name
	// is not the host's.
	Backends map[string]string `json:"backends,omitempty"`
	// ConfigFile is HAProxy's configuration file. The runtime API does not
	// persist, so after each change the server lines of the backends
	// changed are rewritten there, and a reload keeps the switch. Empty: a
	// reload goes back to what the configuration says.
	ConfigFile string `json:"configFile,omitempty"`
	// ServerOptions are added to each server upshift adds, e.g.
	// "check inter 1s".
	ServerOptions string `json:"serverOptions,omitempty"`
	// DrainTimeout is how long a server leaving a backend may keep its
	// connections before the change fails, the server left in
	// maintenance with no weight (default 30 s).
	DrainTimeout *metav1.Duration `json:"drainTimeout,omitempty"`
}

// AzureDNSTraffic names the Azure DNS zone that holds the cluster name, and
// what the name points to for each cluster.
type AzureDNSTraffic struct {
	SubscriptionID string `json:"subscriptionID"`
	ResourceGroup  string `json:"resourceGroup"`
	// Zone, e.g. example.com: hosts.cluster is a name in it.
	Zone string `json:"zone"`
	// ARMEndpoint as for spec.aks.armEndpoint.
	ARMEndpoint string `json:"armEndpoint,omitempty"`
	// Targets maps each cluster (the provider's name) to its records.
	Targets map[string]DNSTarget `json:"targets"`
	// SwitchTTL is the low TTL set around a switch (default 30 s); the
	// record's own TTL is kept on it and restored.
	SwitchTTL int64 `json:"switchTTL,omitempty"`
}

// ClusterPlaceholder in a host name stands for the fleet cluster's name,
// so one blue-green run over several clusters gives each its own names
// (e.g. "{cluster}.aks.contoso.com"); required when a run moves more than
// one cluster.
const ClusterPlaceholder = "{cluster}"

// HostNames are the four names users and testers reach.
type HostNames struct {
	// Public is the official name users type (a CNAME of Cluster).
	Public string `json:"public"`
	// Cluster is the name that is switched from blue to green.
	Cluster string `json:"cluster"`
	// Blue and Green stay on their clusters, for testing.
	Blue  string `json:"blue"`
	Green string `json:"green"`
}

// GatewayTraffic reaches an upshift gateway's admin API.
type GatewayTraffic struct {
	AdminURL string `json:"adminURL"`
	// TokenFile holds the admin API's bearer token (the CLI).
	TokenFile string `json:"tokenFile,omitempty"`
	// TokenSecretRef names a Secret of the hub's namespace, labelled
	// upshift.dev/traffic-credentials=true, whose key (default "token")
	// holds it: a hub reads no files of its pod.
	TokenSecretRef *SecretKeyRef `json:"tokenSecretRef,omitempty"`
}

// DNSTraffic reaches a DNS primary that takes signed dynamic updates.
type DNSTraffic struct {
	// Server is the primary's host:port.
	Server       string `json:"server"`
	Zone         string `json:"zone"`
	KeyName      string `json:"keyName"`
	KeyAlgorithm string `json:"keyAlgorithm,omitempty"`
	// KeySecretFile holds the TSIG key's base64 secret (the CLI).
	KeySecretFile string `json:"keySecretFile,omitempty"`
	// KeySecretRef names a Secret of the hub's namespace, labelled
	// upshift.dev/traffic-credentials=true, whose key (default "secret")
	// holds it: a hub reads no files of its pod.
	KeySecretRef *SecretKeyRef `json:"keySecretRef,omitempty"`
	// Targets maps each cluster (the provider's name) to its records.
	Targets map[string]DNSTarget `json:"targets"`
	// TTL is the record's normal TTL; SwitchTTL the low one around a
	// switch.
	TTL       uint32 `json:"ttl,omitempty"`
	SwitchTTL uint32 `json:"switchTTL,omitempty"`
}

// TrafficManagerTraffic says where the Traffic Manager profiles are. Each
// host (hosts.cluster, hosts.blue, hosts.green) is a profile's DNS name,
// NAME.trafficmanager.net, and the profile is named NAME: hosts.cluster's
// is switched between blue's and green's endpoints, the other two are
// made when missing. The public name is a CNAME of hosts.cluster, kept in
// the user's DNS.
type TrafficManagerTraffic struct {
	SubscriptionID string `json:"subscriptionID"`
	ResourceGroup  string `json:"resourceGroup"`
	// ARMEndpoint as for spec.aks.armEndpoint: empty for Azure's public
	// cloud, or the local emulator's (loopback only).
	ARMEndpoint string `json:"armEndpoint,omitempty"`
	// TTL of profiles upshift makes (default 60 s); SwitchTTL the low one
	// set around a switch (default 10 s).
	TTL       int64 `json:"ttl,omitempty"`
	SwitchTTL int64 `json:"switchTTL,omitempty"`
}

// FrontDoorTraffic reaches the origin groups of one Azure Front Door
// (Standard or Premium) profile: each name (hosts.cluster, hosts.blue,
// hosts.green) is an origin group, named after the name's first label
// unless OriginGroups says otherwise, and each cluster an origin of it
// named after the cluster. The profile, its endpoint and the routes that
// send the names to the origin groups are the user's; upshift writes the
// origin groups' origins: a weight of 1 to 1000, Disabled for none.
type FrontDoorTraffic struct {
	SubscriptionID string `json:"subscriptionID"`
	ResourceGroup  string `json:"resourceGroup"`
	// Profile is the Front Door profile's name.
	Profile string `json:"profile"`
	// ARMEndpoint as for spec.aks.armEndpoint: empty for Azure's public
	// cloud, or the local emulator's (loopback only).
	ARMEndpoint string `json:"armEndpoint,omitempty"`
	// OriginGroups maps a host to its origin group where the name is not
	// the host's first label.
	OriginGroups map[string]string `json:"originGroups,omitempty"`
}

// DNSTarget is what the cluster name points to for one cluster.
type DNSTarget struct {
	A     []string `json:"a,omitempty"`
	CNAME string   `json:"cname,omitempty"`
}

// Sync sources.
const (
	SyncCopy      = "Copy"
	SyncManifests = "Manifests"
)

// SyncSpec selects how green is filled.
type SyncSpec struct {
	// Source is Copy (from blue with the dynamic client, the default) or
	// Manifests (a folder or kustomization applied server-side).
	Source string `json:"source,omitempty"`
	// Namespaces to copy or compare; empty: every non-system namespace.
	Namespaces []string `json:"namespaces,omitempty"`
	// Kinds to copy, as resource[.group] (deployments.apps); empty: the
	// usual application kinds.
	Kinds []string `json:"kinds,omitempty"`
	// Manifests is a folder of YAML files or a kustomization.
	Manifests string `json:"manifests,omitempty"`
}

// FreezeSpec names the deployers whose writes to blue are denied.
type FreezeSpec struct {
	Users  []string `json:"users,omitempty"`
	Groups []string `json:"groups,omitempty"`
	// ServiceAccounts as namespace/name.
	ServiceAccounts []string `json:"serviceAccounts,omitempty"`
}

// BlueGreenValidation is T2's application validation.
type BlueGreenValidation struct {
	// Gates run against green. An HTTP gate whose url is a path ("/")
	// is sent to green's own name through traffic.url.
	Gates []GateSpec `json:"gates,omitempty"`
	// LoadComparison sends the same load to blue and green.
	LoadComparison *LoadComparison `json:"loadComparison,omitempty"`
}

// LoadComparison fails when green regresses against blue.
type LoadComparison struct {
	// Path requested on both names (default /).
	Path string `json:"path,omitempty"`
	// Requests to each cluster (default 200) and Concurrency (default 4).
	Requests    int `json:"requests,omitempty"`
	Concurrency int `json:"concurrency,omitempty"`
	// ThresholdPercent of regression allowed in error rate (points) and
	// p95 latency (relative), default 5.
	ThresholdPercent int `json:"thresholdPercent,omitempty"`
	// MinLatencyDelta below which a p95 difference is noise (default 10ms).
	MinLatencyDelta *metav1.Duration `json:"minLatencyDelta,omitempty"`
}

// PostSwitchSpec is T3's monitoring window.
type PostSwitchSpec struct {
	// Window is how long green is watched after the switch (default 30s).
	Window *metav1.Duration `json:"window,omitempty"`
	// Gates run against green over the window; an HTTP gate with a path
	// url goes to the cluster name, as users do.
	Gates []GateSpec `json:"gates,omitempty"`
	// MaxErrorRatePercent of upshift's probes through the cluster name
	// during the window (default 1).
	MaxErrorRatePercent *int `json:"maxErrorRatePercent,omitempty"`
}

// BlueGreenStatus is what a blue-green move of one cluster did.
type BlueGreenStatus struct {
	// Blue and Green are the provider's names of the two clusters.
	Blue  string `json:"blue"`
	Green string `json:"green"`
	// Baseline is blue at T0.
	Baseline *Baseline `json:"baseline,omitempty"`
	// TrafficBefore is the switched route's weights at T0.
	TrafficBefore map[string]int `json:"trafficBefore,omitempty"`
	// FreezeApplied is when blue's deployers were frozen.
	FreezeApplied *metav1.Time `json:"freezeApplied,omitempty"`
	FreezeLifted  *metav1.Time `json:"freezeLifted,omitempty"`
	// Synced counts objects applied to green.
	Synced int `json:"synced,omitempty"`
	// Drift is what differs between blue and green after the sync.
	Drift []DriftEntry `json:"drift,omitempty"`
	// LoadComparison is T2's verdict.
	LoadComparison string `json:"loadComparison,omitempty"`
	// SwitchStarted and Switched bracket the traffic switch.
	SwitchStarted  *metav1.Time     `json:"switchStarted,omitempty"`
	Switched       *metav1.Time     `json:"switched,omitempty"`
	SwitchDuration *metav1.Duration `json:"switchDuration,omitempty"`
	// PostSwitch is the monitoring window's verdict.
	PostSwitch string `json:"postSwitch,omitempty"`
	// RolledBack is when traffic went back to blue, and why.
	RolledBack     *metav1.Time `json:"rolledBack,omitempty"`
	RollbackReason string       `json:"rollbackReason,omitempty"`
	// BlueDeleted is when blue was destroyed (T4).
	BlueDeleted *metav1.Time `json:"blueDeleted,omitempty"`
}

// Baseline is blue as it was at T0.
type Baseline struct {
	KubernetesVersion string           `json:"kubernetesVersion"`
	NodePools         []NodePoolStatus `json:"nodePools,omitempty"`
	// Workloads counts deployments, statefulsets and daemonsets by
	// namespace.
	Workloads map[string]int `json:"workloads,omitempty"`
	// Traffic through the cluster name: a bounded probe.
	Requests     int    `json:"requests"`
	Failed       int    `json:"failed"`
	RatePerSec   int    `json:"ratePerSecond"`
	P50          string `json:"p50"`
	P95          string `json:"p95"`
	TrafficError string `json:"trafficError,omitempty"`
}

// DriftEntry is one object of blue missing or different on green.
type DriftEntry struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	// Problem says what differs, by field path; values are never shown.
	Problem string `json:"problem"`
}

// For returns the names of one fleet cluster, placeholders filled in.
func (h HostNames) For(cluster string) HostNames {
	r := func(s string) string { return strings.ReplaceAll(s, ClusterPlaceholder, cluster) }
	return HostNames{Public: r(h.Public), Cluster: r(h.Cluster), Blue: r(h.Blue), Green: r(h.Green)}
}

// PerCluster reports whether every name holds the cluster placeholder.
func (h HostNames) PerCluster() bool {
	for _, s := range []string{h.Public, h.Cluster, h.Blue, h.Green} {
		if !strings.Contains(s, ClusterPlaceholder) {
			return false
		}
	}
	return true
}
