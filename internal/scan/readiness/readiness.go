package readiness

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"upshift.dev/upshift/internal/scan/report"
	"upshift.dev/upshift/internal/scan/rules"
)

// Inventory is what the checks look at.
type Inventory struct {
	Cluster        string
	ServerVersion  string        // control plane gitVersion
	TargetVersion  rules.Version // zero: no upgrade planned
	Nodes          []corev1.Node
	Pods           []corev1.Pod
	Deployments    []appsv1.Deployment
	StatefulSets   []appsv1.StatefulSet
	ReplicaSets    []appsv1.ReplicaSet
	PDBs           []policyv1.PodDisruptionBudget
	Services       []corev1.Service
	EndpointSlices []discoveryv1.EndpointSlice
	PVCs           []corev1.PersistentVolumeClaim
	PVs            []corev1.PersistentVolume // every one: they belong to no namespace
	Now            time.Time                 // when it was read; zero means now
}

func (inv *Inventory) now() time.Time {
	if inv.Now.IsZero() {
		return time.Now()
	}
	return inv.Now
}

// SystemNamespaces are skipped by default: the platform owns them.
var SystemNamespaces = map[string]bool{"kube-system": true, "kube-public": true, "kube-node-lease": true}

// Load reads an inventory from a live cluster.
func Load(ctx context.Context, cluster string, client kubernetes.Interface, includeSystem bool) (*Inventory, error) {
	inv := &Inventory{Cluster: cluster, Now: time.Now()}
	v, err := client.Discovery().ServerVersion()
	if err != nil {
		return nil, fmt.Errorf("cluster %s is unreachable: %w (check --kubeconfig and --context)", cluster, err)
	}
	inv.ServerVersion = v.GitVersion
	all := metav1.ListOptions{}
	nodes, err := client.CoreV1().Nodes().List(ctx, all)
	if err != nil {
		return nil, fmt.Errorf("listing nodes: %w", err)
	}
	inv.Nodes = nodes.Items
	pods, err := client.CoreV1().Pods("").List(ctx, all)
	if err != nil {
		return nil, fmt.Errorf("listing pods: %w", err)
	}
	deps, err := client.AppsV1().Deployments("").List(ctx, all)
	if err != nil {
		return nil, fmt.Errorf("listing deployments: %w", err)
	}
	sts, err := client.AppsV1().StatefulSets("").List(ctx, all)
	if err != nil {
		return nil, fmt.Errorf("listing statefulsets: %w", err)
	}
	rss, err := client.AppsV1().ReplicaSets("").List(ctx, all)
	if err != nil {
		return nil, fmt.Errorf("listing replicasets: %w", err)
	}
	pdbs, err := client.PolicyV1().PodDisruptionBudgets("").List(ctx, all)
	if err != nil {
		return nil, fmt.Errorf("listing poddisruptionbudgets: %w", err)
	}
	svcs, err := client.CoreV1().Services("").List(ctx, all)
	if err != nil {
		return nil, fmt.Errorf("listing services: %w", err)
	}
	slices, err := client.DiscoveryV1().EndpointSlices("").List(ctx, all)
	if err != nil {
		return nil, fmt.Errorf("listing endpointslices: %w", err)
	}
	pvcs, err := client.CoreV1().PersistentVolumeClaims("").List(ctx, all)
	if err != nil {
		return nil, fmt.Errorf("listing persistentvolumeclaims: %w", err)
	}
	pvs, err := client.CoreV1().PersistentVolumes().List(ctx, all)
	if err != nil {
		return nil, fmt.Errorf("listing persistentvolumes: %w", err)
	}
	inv.PVs = pvs.Items
	keep := func(ns string) bool { return includeSystem || !SystemNamespaces[ns] }
	for _, p := range pods.Items {
		if keep(p.Namespace) {
			inv.Pods = append(inv.Pods, p)
		}
	}
	for _, d := range deps.Items {
		if keep(d.Namespace) {
			inv.Deployments = append(inv.Deployments, d)
		}
	}
	for _, s := range sts.Items {
		if keep(s.Namespace) {
			inv.StatefulSets = append(inv.StatefulSets, s)
		}
	}
	for _, r := range rss.Items {
		if keep(r.Namespace) {
			inv.ReplicaSets = append(inv.ReplicaSets, r)
		}
	}
	for _, p := range pdbs.Items {
		if keep(p.Namespace) {
			inv.PDBs = append(inv.PDBs, p)
		}
	}
	for _, s := range svcs.Items {
		if keep(s.Namespace) && !(s.Namespace == metav1.NamespaceDefault && s.Name == "kubernetes") {
			inv.Services = append(inv.Services, s)
		}
	}
	for _, s := range slices.Items {
		if keep(s.Namespace) {
			inv.EndpointSlices = append(inv.EndpointSlices, s)
		}
	}
	for _, c := range pvcs.Items {
		if keep(c.Namespace) {
			inv.PVCs = append(inv.PVCs, c)
		}
	}
	return inv, nil
}

// Check is one audit.
type Check struct {
	ID    string
	Title string
	Run   func(*Inventory) []report.Finding
}

// Checks are every audit, in report order.
var Checks = []Check{
	{"pdb-blocks-drain", "PodDisruptionBudget that can never allow an eviction", checkPDBs},
	{"pdb-overlap", "Pod under more than one PodDisruptionBudget", checkOverlappingBudgets},
	{"pdb-sync-failed", "PodDisruptionBudget its controller cannot compute", checkBudgetSyncFailed},
	{"unhealthy-pod-under-pdb", "Unready pod a PodDisruptionBudget keeps", checkUnhealthyUnderBudget},
	{"pinned-to-node", "Workload pinned to one node by name", checkPinnedToNode},
	{"single-replica", "Workload with a single replica", checkSingleReplica},
	{"missing-readiness-probe", "Container without a readiness probe", checkReadinessProbes},
	{"missing-liveness-probe", "Container without a liveness probe", checkLivenessProbes},
	{"missing-prestop", "Container without a preStop hook", checkPreStop},
	{"grace-shorter-than-prestop", "Termination grace period shorter than the preStop sleep", checkGraceVsPreStop},
	{"naked-pod", "Pod without a controller", checkNakedPods},
	{"local-data", "Pod with emptyDir or hostPath data", checkLocalData},
	{"node-local-volume", "Pod whose PersistentVolume lives on one node", checkNodeLocalVolumes},
	{"stuck-terminating", "Pod that should be gone and holds its node's drain", checkStuckTerminating},
	{"long-grace-period", "Termination grace period that stretches or outlasts a drain", checkLongGrace},
	{"static-pod", "Static pod that drains leave behind", checkStaticPods},
	{"missing-requests", "Container without resource requests", checkRequests},
	{"version-skew", "Node version skew", checkVersionSkew},
	{"session-affinity", "Service with ClientIP session affinity", checkSessionAffinity},
	{"service-without-endpoints", "Service with no ready endpoints", checkServiceEndpoints},
}

func init() {
	for _, c := range Checks {
		report.CheckTitles[c.ID] = c.Title
	}
}

// Run applies every check.
func Run(inv *Inventory) []report.Finding {
	var out []report.Finding
	for _, c := range Checks {
		for _, f := range c.Run(inv) {
			f.Check = c.ID
			f.Cluster = inv.Cluster
			if f.Source == "" {
				f.Source = "live state"
			}
			out = append(out, f)
		}
	}
	return out
}
