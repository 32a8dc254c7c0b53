package readiness

import (
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"upshift.dev/upshift/internal/scan/rules"
)

func pod(name string, labels map[string]string, owner string) corev1.Pod {
	p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: name, Labels: labels}}
	if owner != "" {
		kind, ownerName, _ := strings.Cut(owner, "/")
		p.OwnerReferences = []metav1.OwnerReference{{Kind: kind, Name: ownerName, Controller: ptr.To(true)}}
	}
	return p
}

func pdb(name string, sel map[string]string, minAvailable, maxUnavailable *intstr.IntOrString) policyv1.PodDisruptionBudget {
	return policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: name},
		Spec:       policyv1.PodDisruptionBudgetSpec{MinAvailable: minAvailable, MaxUnavailable: maxUnavailable, Selector: &metav1.LabelSelector{MatchLabels: sel}},
	}
}

func deployment(name string, replicas int32, mutate func(*corev1.PodSpec)) appsv1.Deployment {
	spec := corev1.PodSpec{
		TerminationGracePeriodSeconds: ptr.To[int64](30),
		Containers: []corev1.Container{{
			Name:           "main",
			ReadinessProbe: &corev1.Probe{}, LivenessProbe: &corev1.Probe{},
			Lifecycle: &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 5}}},
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: *resourceQuantity("100m")}},
		}},
	}
	if mutate != nil {
		mutate(&spec)
	}
	return appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: name},
		Spec:       appsv1.DeploymentSpec{Replicas: ptr.To(replicas), Template: corev1.PodTemplateSpec{Spec: spec}},
	}
}

func TestChecks(t *testing.T) {
	web := map[string]string{"app": "web"}
	two := []corev1.Pod{pod("web-1", web, "ReplicaSet/web-x"), pod("web-2", web, "ReplicaSet/web-x")}
	for _, tc := range []struct {
		name  string
		check func(*Inventory) []seen
		inv   Inventory
		want  []string // substrings, one finding each; none means no finding
	}{
		{"pdb maxUnavailable 0", wrap(checkPDBs), Inventory{Pods: two, PDBs: []policyv1.PodDisruptionBudget{pdb("p", web, nil, ptr.To(intstr.FromInt32(0)))}}, []string{"maxUnavailable is 0"}},
		{"pdb maxUnavailable 0%", wrap(checkPDBs), Inventory{Pods: two, PDBs: []policyv1.PodDisruptionBudget{pdb("p", web, nil, ptr.To(intstr.FromString("0%")))}}, []string{"maxUnavailable is 0%"}},
		{"pdb minAvailable = replicas", wrap(checkPDBs), Inventory{Pods: two, PDBs: []policyv1.PodDisruptionBudget{pdb("p", web, ptr.To(intstr.FromInt32(2)), nil)}}, []string{"minAvailable 2 with 2 matching"}},
		{"pdb minAvailable 100%", wrap(checkPDBs), Inventory{Pods: two, PDBs: []policyv1.PodDisruptionBudget{pdb("p", web, ptr.To(intstr.FromString("100%")), nil)}}, []string{"minAvailable 100%"}},
		{"pdb healthy", wrap(checkPDBs), Inventory{Pods: two, PDBs: []policyv1.PodDisruptionBudget{pdb("p", web, ptr.To(intstr.FromInt32(1)), nil)}}, nil},
		{"pdb over one pod", wrap(checkPDBs), Inventory{Pods: two[:1], PDBs: []policyv1.PodDisruptionBudget{pdb("p", web, nil, ptr.To(intstr.FromInt32(1)))}}, []string{"single pod"}},
		{"pdb matches nothing", wrap(checkPDBs), Inventory{Pods: two, PDBs: []policyv1.PodDisruptionBudget{pdb("p", map[string]string{"app": "wbe"}, ptr.To(intstr.FromInt32(1)), nil)}}, []string{"matches no pods"}},
		{"pdb AND semantics", wrap(checkPDBs), Inventory{Pods: two, PDBs: []policyv1.PodDisruptionBudget{pdb("p", map[string]string{"app": "web", "tier": "front"}, ptr.To(intstr.FromInt32(1)), nil)}}, []string{"matches no pods"}},
		{"pdb several controllers", wrap(checkPDBs), Inventory{Pods: append(two, pod("other", web, "StatefulSet/db")), PDBs: []policyv1.PodDisruptionBudget{pdb("p", web, ptr.To(intstr.FromInt32(1)), nil)}}, []string{"pods of 2 controllers"}},
		{"pdb live zero disruptions", wrap(checkPDBs), Inventory{Pods: two, PDBs: []policyv1.PodDisruptionBudget{func() policyv1.PodDisruptionBudget {
			p := pdb("p", web, ptr.To(intstr.FromInt32(1)), nil)
			p.Status = policyv1.PodDisruptionBudgetStatus{ExpectedPods: 2, CurrentHealthy: 1, DesiredHealthy: 1, DisruptionsAllowed: 0}
			return p
		}()}}, []string{"allows 0 disruptions right now"}},
		{"pod under two budgets", wrap(checkOverlappingBudgets), Inventory{Pods: running(two), PDBs: []policyv1.PodDisruptionBudget{
			pdb("a", web, ptr.To(intstr.FromInt32(1)), nil), pdb("b", map[string]string{}, ptr.To(intstr.FromInt32(1)), nil)}}, []string{"2 PodDisruptionBudgets select it (a, b)", "2 PodDisruptionBudgets select it (a, b)"}},
		{"pending pods ignore budgets", wrap(checkOverlappingBudgets), Inventory{Pods: pending(two), PDBs: []policyv1.PodDisruptionBudget{
			pdb("a", web, ptr.To(intstr.FromInt32(1)), nil), pdb("b", web, ptr.To(intstr.FromInt32(1)), nil)}}, nil},
		{"budget sync failed", wrap(checkBudgetSyncFailed), Inventory{PDBs: []policyv1.PodDisruptionBudget{func() policyv1.PodDisruptionBudget {
			p := pdb("p", web, nil, ptr.To(intstr.FromInt32(1)))
			p.Status.Conditions = []metav1.Condition{{Type: policyv1.DisruptionAllowedCondition, Status: metav1.ConditionFalse, Reason: policyv1.SyncFailedReason, Message: "found no controller ref for pod \"x\""}}
			return p
		}(), pdb("ok", web, nil, ptr.To(intstr.FromInt32(1)))}}, []string{"cannot compute it (found no controller ref"}},
		{"unready pod, budget short", wrap(checkUnhealthyUnderBudget), Inventory{Pods: []corev1.Pod{ready(running(two)[0], false), ready(running(two)[1], true)}, PDBs: []policyv1.PodDisruptionBudget{func() policyv1.PodDisruptionBudget {
			p := pdb("p", web, ptr.To(intstr.FromInt32(2)), nil)
			p.Status = policyv1.PodDisruptionBudgetStatus{CurrentHealthy: 1, DesiredHealthy: 2, ExpectedPods: 2}
			return p
		}()}}, []string{"refuses it now (the budget has 1 healthy pod(s), needs 2)"}},
		{"unready pod, budget healthy", wrap(checkUnhealthyUnderBudget), Inventory{Pods: []corev1.Pod{ready(running(two)[0], false), ready(running(two)[1], true)}, PDBs: []policyv1.PodDisruptionBudget{func() policyv1.PodDisruptionBudget {
			p := pdb("p", web, ptr.To(intstr.FromInt32(1)), nil)
			p.Status = policyv1.PodDisruptionBudgetStatus{CurrentHealthy: 1, DesiredHealthy: 1, ExpectedPods: 2}
			return p
		}()}}, []string{"whenever the budget falls short"}},
		{"unready pod, AlwaysAllow", wrap(checkUnhealthyUnderBudget), Inventory{Pods: []corev1.Pod{ready(running(two)[0], false)}, PDBs: []policyv1.PodDisruptionBudget{func() policyv1.PodDisruptionBudget {
			p := pdb("p", web, ptr.To(intstr.FromInt32(2)), nil)
			p.Spec.UnhealthyPodEvictionPolicy = ptr.To(policyv1.AlwaysAllow)
			return p
		}()}}, nil},
		{"pinned by nodeSelector", wrap(checkPinnedToNode), Inventory{Deployments: []appsv1.Deployment{deployment("d", 2, func(s *corev1.PodSpec) { s.NodeSelector = map[string]string{corev1.LabelHostname: "node-a"} }), deployment("free", 2, nil)}}, []string{"only on node node-a"}},
		{"pinned by affinity", wrap(checkPinnedToNode), Inventory{Deployments: []appsv1.Deployment{deployment("d", 2, func(s *corev1.PodSpec) {
			s.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{
				{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{"node-a", "node-b"}}}}}}}}
		}), deployment("by-pool", 2, func(s *corev1.PodSpec) { s.NodeSelector = map[string]string{"agentpool": "user"} })}}, []string{"only on node node-a, node-b"}},
		{"single replica", wrap(checkSingleReplica), Inventory{Deployments: []appsv1.Deployment{deployment("one", 1, nil), deployment("two", 2, nil)}}, []string{"one replica"}},
		{"no readiness probe", wrap(checkReadinessProbes), Inventory{Deployments: []appsv1.Deployment{deployment("d", 2, func(s *corev1.PodSpec) { s.Containers[0].ReadinessProbe = nil })}}, []string{"no readiness probe"}},
		{"no liveness probe", wrap(checkLivenessProbes), Inventory{Deployments: []appsv1.Deployment{deployment("d", 2, func(s *corev1.PodSpec) { s.Containers[0].LivenessProbe = nil })}}, []string{"no liveness probe"}},
		{"no preStop", wrap(checkPreStop), Inventory{Deployments: []appsv1.Deployment{deployment("d", 2, func(s *corev1.PodSpec) { s.Containers[0].Lifecycle = nil })}}, []string{"no preStop hook"}},
		{"grace shorter than preStop sleep action", wrap(checkGraceVsPreStop), Inventory{Deployments: []appsv1.Deployment{deployment("d", 2, func(s *corev1.PodSpec) { s.TerminationGracePeriodSeconds = ptr.To[int64](3) })}}, []string{"sleeps 5s in preStop but the grace period is 3s"}},
		{"grace shorter than preStop exec sleep", wrap(checkGraceVsPreStop), Inventory{Deployments: []appsv1.Deployment{deployment("d", 2, func(s *corev1.PodSpec) {
			s.TerminationGracePeriodSeconds = nil
			s.Containers[0].Lifecycle.PreStop = &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"/bin/sh", "-c", "sleep 45"}}}
		})}}, []string{"sleeps 45s in preStop but the grace period is 30s"}},
		{"grace long enough", wrap(checkGraceVsPreStop), Inventory{Deployments: []appsv1.Deployment{deployment("d", 2, nil)}}, nil},
		{"naked pod", wrap(checkNakedPods), Inventory{Pods: []corev1.Pod{pod("naked", nil, ""), two[0]}}, []string{"no controller owns it"}},
		{"local data", wrap(checkLocalData), Inventory{Pods: []corev1.Pod{func() corev1.Pod {
			p := pod("data", nil, "ReplicaSet/x")
			p.Spec.Volumes = []corev1.Volume{
				{Name: "cache", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/data"}}},
			}
			return p
		}()}}, []string{"cache is an emptyDir", "hostPath /var/data"}},
		{"node-local volumes", wrap(checkNodeLocalVolumes), Inventory{
			Pods: []corev1.Pod{withClaim(pod("db-0", nil, "StatefulSet/db"), "data-db-0"), withClaim(pod("db-1", nil, "StatefulSet/db"), "data-db-1"), withClaim(pod("web-1", nil, "ReplicaSet/web-x"), "shared"), withClaim(pod("scratch", nil, "ReplicaSet/s"), "hostdir")},
			PVCs: []corev1.PersistentVolumeClaim{claim("data-db-0", "pv-local"), claim("data-db-1", "pv-pinned"), claim("shared", "pv-network"), claim("hostdir", "pv-host")},
			PVs: []corev1.PersistentVolume{
				{ObjectMeta: metav1.ObjectMeta{Name: "pv-local"}, Spec: corev1.PersistentVolumeSpec{PersistentVolumeSource: corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: "/mnt/disks/ssd1"}}, NodeAffinity: onNode("node-a")}},
				{ObjectMeta: metav1.ObjectMeta{Name: "pv-pinned"}, Spec: corev1.PersistentVolumeSpec{PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{Driver: "local.csi.example", VolumeHandle: "v"}}, NodeAffinity: onNode("node-b")}},
				{ObjectMeta: metav1.ObjectMeta{Name: "pv-network"}, Spec: corev1.PersistentVolumeSpec{PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{Driver: "disk.csi.azure.com", VolumeHandle: "v"}}, NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelTopologyZone, Operator: corev1.NodeSelectorOpIn, Values: []string{"westeurope-1"}}}}}}}}},
				{ObjectMeta: metav1.ObjectMeta{Name: "pv-host"}, Spec: corev1.PersistentVolumeSpec{PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/srv"}}}},
			},
		}, []string{"a local volume at /mnt/disks/ssd1 on node node-a", "bound on node node-b", "a hostPath volume at /srv"}},
		{"stuck terminating", wrap(checkStuckTerminating), Inventory{Now: epoch.Add(10 * time.Minute), Pods: []corev1.Pod{
			terminating(pod("held", nil, "ReplicaSet/x"), epoch, "example.com/hold"),
			terminating(pod("lost-node", nil, "ReplicaSet/x"), epoch),
			terminating(pod("stopping", nil, "ReplicaSet/x"), epoch.Add(11*time.Minute)),
			terminating(pod("just-late", nil, "ReplicaSet/x"), epoch.Add(9*time.Minute+30*time.Second)),
		}}, []string{"10m0s past its grace period, held by finalizer(s) example.com/hold", "node node-a has not confirmed"}},
		{"long grace", wrap(checkLongGrace), Inventory{Deployments: []appsv1.Deployment{
			deployment("forever", 2, func(s *corev1.PodSpec) { s.TerminationGracePeriodSeconds = ptr.To[int64](3600) }),
			deployment("slow", 2, func(s *corev1.PodSpec) { s.TerminationGracePeriodSeconds = ptr.To[int64](600) }),
			deployment("quick", 2, nil),
		}}, []string{"a drain gives up after 30m0s", "may wait that long"}},
		{"static pod", wrap(checkStaticPods), Inventory{Pods: []corev1.Pod{func() corev1.Pod {
			p := pod("agent-node-a", nil, "Node/node-a")
			p.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "abc"}
			p.Spec.NodeName = "node-a"
			return p
		}(), two[0]}}, []string{"a static pod of node node-a's kubelet"}},
		{"no requests", wrap(checkRequests), Inventory{Deployments: []appsv1.Deployment{deployment("d", 2, func(s *corev1.PodSpec) { s.Containers[0].Resources = corev1.ResourceRequirements{} })}}, []string{"no CPU or memory requests"}},
		{"skew: node too old", wrap(checkVersionSkew), Inventory{ServerVersion: "v1.34.4", Nodes: []corev1.Node{node("old", "v1.30.1"), node("ok", "v1.31.0")}}, []string{"4 minors behind"}},
		{"skew: target leaves node behind", wrap(checkVersionSkew), Inventory{ServerVersion: "v1.34.4", TargetVersion: rules.Version{Major: 1, Minor: 35}, Nodes: []corev1.Node{node("n", "v1.31.0")}}, []string{"would be 4 minors behind the target"}},
		{"skew: target skips a minor", wrap(checkVersionSkew), Inventory{ServerVersion: "v1.33.1", TargetVersion: rules.Version{Major: 1, Minor: 35}}, []string{"skips minor versions"}},
		{"skew: node newer", wrap(checkVersionSkew), Inventory{ServerVersion: "v1.33.1", Nodes: []corev1.Node{node("n", "v1.34.0")}}, []string{"newer than the control plane"}},
		{"session affinity", wrap(checkSessionAffinity), Inventory{Services: []corev1.Service{{ObjectMeta: metav1.ObjectMeta{Name: "s"}, Spec: corev1.ServiceSpec{SessionAffinity: corev1.ServiceAffinityClientIP}}}}, []string{"ClientIP"}},
		{"service without endpoints", wrap(checkServiceEndpoints), Inventory{
			Services: []corev1.Service{
				{ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: "empty"}, Spec: corev1.ServiceSpec{Selector: web}},
				{ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: "full"}, Spec: corev1.ServiceSpec{Selector: web}},
				{ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: "manual"}},
			},
			EndpointSlices: []discoveryv1.EndpointSlice{
				{ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: "empty-a", Labels: map[string]string{"kubernetes.io/service-name": "empty"}}, Endpoints: []discoveryv1.Endpoint{{Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(false)}}}},
				{ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: "full-a", Labels: map[string]string{"kubernetes.io/service-name": "full"}}, Endpoints: []discoveryv1.Endpoint{{Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}}},
			},
		}, []string{"no ready endpoints"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.check(&tc.inv)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d findings %v, want %d %v", len(got), got, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				if !strings.Contains(got[i].msg, w) {
					t.Errorf("finding %d = %q, want it to mention %q", i, got[i].msg, w)
				}
				if got[i].fix == "" || got[i].severity == "" {
					t.Errorf("finding %d has no fix or severity", i)
				}
			}
		})
	}
}

type seen struct{ msg, fix, severity string }

// running returns copies of pods as a node runs them: Running and Ready.
func running(pods []corev1.Pod) []corev1.Pod {
	out := make([]corev1.Pod, len(pods))
	for i, p := range pods {
		p.Status.Phase = corev1.PodRunning
		out[i] = ready(p, true)
	}
	return out
}

func pending(pods []corev1.Pod) []corev1.Pod {
	out := make([]corev1.Pod, len(pods))
	for i, p := range pods {
		p.Status.Phase = corev1.PodPending
		out[i] = p
	}
	return out
}

func ready(p corev1.Pod, ok bool) corev1.Pod {
	status := corev1.ConditionFalse
	if ok {
		status = corev1.ConditionTrue
	}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}
	return p
}

func wrap(check func(*Inventory) []reportFinding) func(*Inventory) []seen {
	return func(inv *Inventory) []seen {
		var out []seen
		for _, f := range check(inv) {
			out = append(out, seen{f.Message, f.Fix, f.Severity})
		}
		return out
	}
}

var epoch = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

func withClaim(p corev1.Pod, claim string) corev1.Pod {
	p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}})
	return p
}

func claim(name, volume string) corev1.PersistentVolumeClaim {
	return corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: name}, Spec: corev1.PersistentVolumeClaimSpec{VolumeName: volume}}
}

func onNode(name string) *corev1.VolumeNodeAffinity {
	return &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{name}}}}}}}
}

// terminating marks a pod on node-a as deleted, due to be gone at deadline.
func terminating(p corev1.Pod, deadline time.Time, finalizers ...string) corev1.Pod {
	p.Spec.NodeName = "node-a"
	p.DeletionTimestamp = &metav1.Time{Time: deadline}
	p.Finalizers = finalizers
	return p
}

func node(name, version string) corev1.Node {
	return corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NodeStatus{NodeInfo: corev1.NodeSystemInfo{KubeletVersion: version}}}
}
