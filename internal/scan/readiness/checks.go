package readiness

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"upshift.dev/upshift/internal/kubeversion"
	"upshift.dev/upshift/internal/scan/report"
	"upshift.dev/upshift/internal/scan/rules"
)

func finding(severity, kind, namespace, name, message, fix string) report.Finding {
	return report.Finding{Severity: severity, Kind: kind, Namespace: namespace, Name: name, Message: message, Fix: fix}
}

// workload is a Deployment or StatefulSet seen through what the checks need.
type workload struct {
	kind      string
	namespace string
	name      string
	replicas  int32
	selector  *metav1.LabelSelector
	template  corev1.PodTemplateSpec
}

func (inv *Inventory) workloads() []workload {
	var out []workload
	for _, d := range inv.Deployments {
		out = append(out, workload{"Deployment", d.Namespace, d.Name, replicas(d.Spec.Replicas), d.Spec.Selector, d.Spec.Template})
	}
	for _, s := range inv.StatefulSets {
		out = append(out, workload{"StatefulSet", s.Namespace, s.Name, replicas(s.Spec.Replicas), s.Spec.Selector, s.Spec.Template})
	}
	return out
}

func replicas(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}

// controllerOf names the top controller of a pod: a ReplicaSet's pods
// belong to its Deployment.
func (inv *Inventory) controllerOf(p *corev1.Pod) string {
	ref := metav1.GetControllerOf(p)
	if ref == nil {
		return ""
	}
	if ref.Kind == "ReplicaSet" {
		for _, rs := range inv.ReplicaSets {
			if rs.Namespace == p.Namespace && rs.Name == ref.Name {
				if owner := metav1.GetControllerOf(&rs); owner != nil {
					return owner.Kind + "/" + owner.Name
				}
			}
		}
	}
	return ref.Kind + "/" + ref.Name
}

// checkPDBs finds budgets under which a drain can never evict a pod.
func checkPDBs(inv *Inventory) []report.Finding {
	var out []report.Finding
	for i := range inv.PDBs {
		pdb := &inv.PDBs[i]
		add := func(sev, msg, fix string) {
			out = append(out, finding(sev, "PodDisruptionBudget", pdb.Namespace, pdb.Name, msg, fix))
		}
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil {
			add(report.SeverityError, "its selector is invalid: "+err.Error(), "fix the selector")
			continue
		}
		// Selectors match with AND semantics over labels and expressions,
		// as the API server does; an empty selector matches every pod.
		var pods []*corev1.Pod
		controllers := map[string]bool{}
		for j := range inv.Pods {
			p := &inv.Pods[j]
			if p.Namespace == pdb.Namespace && sel.Matches(labels.Set(p.Labels)) && p.DeletionTimestamp == nil {
				pods = append(pods, p)
				controllers[inv.controllerOf(p)] = true
			}
		}
		n := int32(len(pods))
		switch {
		case pdb.Spec.MaxUnavailable != nil && isZero(*pdb.Spec.MaxUnavailable):
			add(report.SeverityError, "maxUnavailable is "+pdb.Spec.MaxUnavailable.String()+": no pod may ever be evicted, so every drain of its nodes hangs",
				"allow at least one disruption (maxUnavailable: 1), or run more replicas and use minAvailable below the replica count")
			continue
		case n == 0:
			add(report.SeverityWarning, "it matches no pods: a typo in the selector leaves the workload unprotected",
				"make the selector match the workload's pod labels, or delete the budget")
			continue
		}
		if pdb.Spec.MinAvailable != nil {
			min, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MinAvailable, int(n), true)
			if err == nil && int32(min) >= n {
				add(report.SeverityError, fmt.Sprintf("minAvailable %s with %d matching pod(s): no pod may ever be evicted, so every drain of its nodes hangs", pdb.Spec.MinAvailable.String(), n),
					fmt.Sprintf("lower minAvailable below %d or add replicas", n))
				continue
			}
		}
		if n == 1 {
			add(report.SeverityError, "it covers a single pod: an eviction is either refused forever or takes the only replica down",
				"run at least two replicas, or drop the budget for this singleton")
			continue
		}
		if pdb.Status.ObservedGeneration >= pdb.Generation && pdb.Status.ExpectedPods > 0 && pdb.Status.DisruptionsAllowed == 0 {
			add(report.SeverityWarning, fmt.Sprintf("it allows 0 disruptions right now (%d of %d pods healthy, %d desired): a drain would wait", pdb.Status.CurrentHealthy, pdb.Status.ExpectedPods, pdb.Status.DesiredHealthy),
				"make the unhealthy pods healthy before upgrading")
		}
		if len(controllers) > 1 {
			add(report.SeverityWarning, fmt.Sprintf("it matches pods of %d controllers (%s): they share one allowance of disruptions, so a drain may take every pod of one while the others keep the budget satisfied", len(controllers), keys(controllers)),
				"give each workload its own budget with a selector that matches only its pods")
		}
	}
	return out
}

func isZero(v intstr.IntOrString) bool {
	if v.Type == intstr.Int {
		return v.IntVal == 0
	}
	return strings.TrimSuffix(v.StrVal, "%") == "0"
}

func keys(m map[string]bool) string {
	var out []string
	for k := range m {
		if k == "" {
			k = "no controller"
		}
		out = append(out, k)
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

func checkSingleReplica(inv *Inventory) []report.Finding {
	var out []report.Finding
	for _, w := range inv.workloads() {
		if w.replicas == 1 {
			out = append(out, finding(report.SeverityWarning, w.kind, w.namespace, w.name,
				"one replica: draining its node takes it down until the replacement is ready", "run at least two replicas with a PodDisruptionBudget"))
		}
	}
	return out
}

func eachContainer(inv *Inventory, fn func(w workload, c corev1.Container)) {
	for _, w := range inv.workloads() {
		for _, c := range w.template.Spec.Containers {
			fn(w, c)
		}
	}
}

func checkReadinessProbes(inv *Inventory) []report.Finding {
	var out []report.Finding
	eachContainer(inv, func(w workload, c corev1.Container) {
		if c.ReadinessProbe == nil {
			out = append(out, finding(report.SeverityWarning, w.kind, w.namespace, w.name,
				fmt.Sprintf("container %s has no readiness probe: replacement pods get traffic before they can serve it", c.Name), "add a readinessProbe"))
		}
	})
	return out
}

func checkLivenessProbes(inv *Inventory) []report.Finding {
	var out []report.Finding
	eachContainer(inv, func(w workload, c corev1.Container) {
		if c.LivenessProbe == nil {
			out = append(out, finding(report.SeverityInfo, w.kind, w.namespace, w.name,
				fmt.Sprintf("container %s has no liveness probe: a hung replica after the move is never restarted", c.Name), "add a livenessProbe"))
		}
	})
	return out
}

func checkPreStop(inv *Inventory) []report.Finding {
	var out []report.Finding
	eachContainer(inv, func(w workload, c corev1.Container) {
		if c.Lifecycle == nil || c.Lifecycle.PreStop == nil {
			out = append(out, finding(report.SeverityInfo, w.kind, w.namespace, w.name,
				fmt.Sprintf("container %s has no preStop hook: it may stop before load balancers stop sending to it", c.Name), "add a preStop sleep of a few seconds"))
		}
	})
	return out
}

var sleepCommand = regexp.MustCompile(`(?:^|[\s;&])sleep\s+(\d+)`)

// preStopSleep returns the seconds a preStop hook sleeps, if it is a sleep.
func preStopSleep(h *corev1.LifecycleHandler) (int64, bool) {
	switch {
	case h == nil:
		return 0, false
	case h.Sleep != nil:
		return h.Sleep.Seconds, true
	case h.Exec != nil:
		if m := sleepCommand.FindStringSubmatch(strings.Join(h.Exec.Command, " ")); m != nil {
			n, err := strconv.ParseInt(m[1], 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

func checkGraceVsPreStop(inv *Inventory) []report.Finding {
	var out []report.Finding
	for _, w := range inv.workloads() {
		grace := int64(corev1.DefaultTerminationGracePeriodSeconds)
		if g := w.template.Spec.TerminationGracePeriodSeconds; g != nil {
			grace = *g
		}
		for _, c := range w.template.Spec.Containers {
			if c.Lifecycle == nil {
				continue
			}
			if s, ok := preStopSleep(c.Lifecycle.PreStop); ok && grace <= s {
				out = append(out, finding(report.SeverityError, w.kind, w.namespace, w.name,
					fmt.Sprintf("container %s sleeps %ds in preStop but the grace period is %ds: it is killed before it stops cleanly", c.Name, s, grace),
					fmt.Sprintf("set terminationGracePeriodSeconds above %d", s)))
			}
		}
	}
	return out
}

func checkNakedPods(inv *Inventory) []report.Finding {
	var out []report.Finding
	for i := range inv.Pods {
		p := &inv.Pods[i]
		if metav1.GetControllerOf(p) != nil || p.Annotations[corev1.MirrorPodAnnotationKey] != "" || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		out = append(out, finding(report.SeverityError, "Pod", p.Namespace, p.Name,
			"no controller owns it: a drain deletes it and nothing brings it back", "run it from a Deployment, StatefulSet or Job"))
	}
	return out
}

func checkLocalData(inv *Inventory) []report.Finding {
	var out []report.Finding
	for i := range inv.Pods {
		p := &inv.Pods[i]
		for _, v := range p.Spec.Volumes {
			switch {
			case v.HostPath != nil:
				out = append(out, finding(report.SeverityWarning, "Pod", p.Namespace, p.Name,
					fmt.Sprintf("volume %s is hostPath %s: its data stays on the old node", v.Name, v.HostPath.Path), "use a PersistentVolumeClaim for data that must survive"))
			case v.EmptyDir != nil && v.EmptyDir.Medium != corev1.StorageMediumMemory:
				out = append(out, finding(report.SeverityInfo, "Pod", p.Namespace, p.Name,
					fmt.Sprintf("volume %s is an emptyDir: its data is lost when the pod moves", v.Name), "make sure it only holds caches or scratch data"))
			}
		}
	}
	return out
}

func checkRequests(inv *Inventory) []report.Finding {
	var out []report.Finding
	eachContainer(inv, func(w workload, c corev1.Container) {
		if c.Resources.Requests.Cpu().IsZero() && c.Resources.Requests.Memory().IsZero() {
			out = append(out, finding(report.SeverityWarning, w.kind, w.namespace, w.name,
				fmt.Sprintf("container %s has no CPU or memory requests: the scheduler may pack moved pods onto a node that cannot run them", c.Name), "set resources.requests"))
		}
	})
	return out
}

// maxKubeletSkew is how many minors a kubelet may trail its API server.
const maxKubeletSkew = kubeversion.MaxKubeletSkew

func checkVersionSkew(inv *Inventory) []report.Finding {
	var out []report.Finding
	cp, err := rules.ParseVersion(inv.ServerVersion)
	if err != nil {
		return nil
	}
	if !inv.TargetVersion.IsZero() && inv.TargetVersion.Minor > cp.Minor+1 {
		out = append(out, finding(report.SeverityError, "Cluster", "", inv.Cluster,
			fmt.Sprintf("the target %s skips minor versions from %s: control planes upgrade one minor at a time", inv.TargetVersion, cp),
			fmt.Sprintf("upgrade to 1.%d first, then on", cp.Minor+1)))
	}
	for i := range inv.Nodes {
		n := &inv.Nodes[i]
		kv, err := rules.ParseVersion(n.Status.NodeInfo.KubeletVersion)
		if err != nil {
			continue
		}
		switch {
		case kv.Minor > cp.Minor:
			out = append(out, finding(report.SeverityError, "Node", "", n.Name,
				fmt.Sprintf("kubelet %s is newer than the control plane %s", n.Status.NodeInfo.KubeletVersion, inv.ServerVersion), "upgrade the control plane first"))
		case cp.Minor-kv.Minor > maxKubeletSkew:
			out = append(out, finding(report.SeverityError, "Node", "", n.Name,
				fmt.Sprintf("kubelet %s is %d minors behind the control plane %s (at most %d allowed)", n.Status.NodeInfo.KubeletVersion, cp.Minor-kv.Minor, inv.ServerVersion, maxKubeletSkew), "upgrade the node pool"))
		case !inv.TargetVersion.IsZero() && inv.TargetVersion.Minor-kv.Minor > maxKubeletSkew:
			out = append(out, finding(report.SeverityError, "Node", "", n.Name,
				fmt.Sprintf("kubelet %s would be %d minors behind the target %s (at most %d allowed)", n.Status.NodeInfo.KubeletVersion, inv.TargetVersion.Minor-kv.Minor, inv.TargetVersion, maxKubeletSkew), "upgrade the node pool before the control plane"))
		}
	}
	return out
}

func checkSessionAffinity(inv *Inventory) []report.Finding {
	var out []report.Finding
	for _, s := range inv.Services {
		if s.Spec.SessionAffinity == corev1.ServiceAffinityClientIP {
			out = append(out, finding(report.SeverityInfo, "Service", s.Namespace, s.Name,
				"sessionAffinity is ClientIP: clients pinned to a drained pod lose their session", "keep session state outside the pods, or expect re-logins during the upgrade"))
		}
	}
	return out
}

func checkServiceEndpoints(inv *Inventory) []report.Finding {
	var out []report.Finding
	for _, s := range inv.Services {
		if len(s.Spec.Selector) == 0 || s.Spec.Type == corev1.ServiceTypeExternalName {
			continue
		}
		ready := 0
		for _, es := range inv.EndpointSlices {
			if es.Namespace != s.Namespace || es.Labels["kubernetes.io/service-name"] != s.Name {
				continue
			}
			for _, ep := range es.Endpoints {
				if ep.Conditions.Ready == nil || *ep.Conditions.Ready {
					ready++
				}
			}
		}
		if ready == 0 {
			out = append(out, finding(report.SeverityWarning, "Service", s.Namespace, s.Name,
				"no ready endpoints: it serves nothing now, so health checks during the upgrade cannot tell good from bad", "fix or scale up its pods, or delete the service"))
		}
	}
	return out
}
