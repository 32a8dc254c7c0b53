package readiness

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/kubectl/pkg/util/podutils"

	"upshift.dev/upshift/internal/scan/report"
)

// The checks in this file come from the reasons the API server's eviction
// subresource refuses an eviction (k8s.io/kubernetes
// pkg/registry/core/pod/storage/eviction.go, v1.37): a pod under several
// budgets (500, every time), a budget its controller failed to compute
// (429 with "failed sync", every time), an unready pod under a budget that
// is not healthy and does not let unhealthy pods go (429 until the app
// recovers), and from where a drained pod's replacement can go.

// budgetsOf returns the budgets whose selector matches each running pod
// that a budget guards (pods Pending, finished or terminating are evicted
// without looking at budgets).
func (inv *Inventory) budgetsOf() map[*corev1.Pod][]*policyv1.PodDisruptionBudget {
	out := map[*corev1.Pod][]*policyv1.PodDisruptionBudget{}
	for i := range inv.PDBs {
		pdb := &inv.PDBs[i]
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil {
			continue // checkPDBs reports it
		}
		for j := range inv.Pods {
			p := &inv.Pods[j]
			if p.Namespace != pdb.Namespace || !sel.Matches(labels.Set(p.Labels)) || budgetIgnored(p) {
				continue
			}
			out[p] = append(out[p], pdb)
		}
	}
	return out
}

// budgetIgnored: the eviction API deletes the pod without asking its
// budgets (canIgnorePDB).
func budgetIgnored(p *corev1.Pod) bool {
	switch p.Status.Phase {
	case corev1.PodSucceeded, corev1.PodFailed, corev1.PodPending:
		return true
	}
	return p.DeletionTimestamp != nil
}

// checkOverlappingBudgets finds pods under more than one budget: the
// eviction API answers 500 "This pod has more than one
// PodDisruptionBudget" for each, so a drain of their node never ends.
func checkOverlappingBudgets(inv *Inventory) []report.Finding {
	var out []report.Finding
	for p, pdbs := range inv.budgetsOf() {
		if len(pdbs) < 2 {
			continue
		}
		var names []string
		for _, b := range pdbs {
			names = append(names, b.Name)
		}
		sort.Strings(names)
		out = append(out, finding(report.SeverityError, "Pod", p.Namespace, p.Name,
			fmt.Sprintf("%d PodDisruptionBudgets select it (%s): the eviction API refuses to evict a pod under more than one budget, every time, so the drain of its node never ends", len(pdbs), strings.Join(names, ", ")),
			"make the budgets' selectors disjoint: one budget per pod"))
	}
	sortFindings(out)
	return out
}

// checkBudgetSyncFailed finds budgets the disruption controller could not
// compute (for example a percentage over pods no scalable controller
// owns): their status allows no disruption, and every eviction is refused.
func checkBudgetSyncFailed(inv *Inventory) []report.Finding {
	var out []report.Finding
	for i := range inv.PDBs {
		pdb := &inv.PDBs[i]
		c := meta.FindStatusCondition(pdb.Status.Conditions, policyv1.DisruptionAllowedCondition)
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != policyv1.SyncFailedReason {
			continue
		}
		out = append(out, finding(report.SeverityError, "PodDisruptionBudget", pdb.Namespace, pdb.Name,
			fmt.Sprintf("the disruption controller cannot compute it (%s): it allows no disruption, so every eviction of its pods is refused and drains of their nodes never end", c.Message),
			"give its pods a controller with a scale subresource (Deployment, StatefulSet, ReplicaSet), or use an integer minAvailable"))
	}
	return out
}

// checkUnhealthyUnderBudget finds running pods that are not Ready under a
// budget that keeps them (unhealthyPodEvictionPolicy IfHealthyBudget, the
// default): while the budget is short of healthy pods, the eviction API
// refuses them, and a crash-looping pod holds its node's drain.
func checkUnhealthyUnderBudget(inv *Inventory) []report.Finding {
	var out []report.Finding
	for p, pdbs := range inv.budgetsOf() {
		if len(pdbs) != 1 || podutils.IsPodReady(p) {
			continue
		}
		pdb := pdbs[0]
		if pol := pdb.Spec.UnhealthyPodEvictionPolicy; pol != nil && *pol == policyv1.AlwaysAllow {
			continue
		}
		// The API server lets an unready pod go when its budget is
		// healthy; otherwise the pod needs a disruption the budget lacks.
		sev, when := report.SeverityWarning, "whenever the budget falls short of healthy pods"
		healthy := pdb.Status.DesiredHealthy > 0 && pdb.Status.CurrentHealthy >= pdb.Status.DesiredHealthy
		if !healthy && pdb.Status.DisruptionsAllowed == 0 {
			sev, when = report.SeverityError, fmt.Sprintf("now (the budget has %d healthy pod(s), needs %d)", pdb.Status.CurrentHealthy, pdb.Status.DesiredHealthy)
		}
		out = append(out, finding(sev, "Pod", p.Namespace, p.Name,
			fmt.Sprintf("it is not Ready and PodDisruptionBudget %s keeps unhealthy pods (unhealthyPodEvictionPolicy IfHealthyBudget): the eviction API refuses it %s, and the drain of its node waits", pdb.Name, when),
			"set unhealthyPodEvictionPolicy: AlwaysAllow on the budget, or make the pod healthy before upgrading"))
	}
	sortFindings(out)
	return out
}

// checkPinnedToNode finds workloads whose pods may only run on one named
// node (nodeName, or a hostname selector or required affinity): the
// upgrade replaces every node, so a drained pod's replacement stays
// Pending for good.
func checkPinnedToNode(inv *Inventory) []report.Finding {
	var out []report.Finding
	for _, w := range inv.workloads() {
		if host := pinnedHost(&w.template.Spec); host != "" {
			out = append(out, finding(report.SeverityError, w.kind, w.namespace, w.name,
				fmt.Sprintf("its pods may run only on node %s: an upgrade replaces every node, so once drained they stay Pending", host),
				"select nodes by pool or zone labels (e.g. "+poolLabelHint+"), never by node name"))
		}
	}
	return out
}

const poolLabelHint = "agentpool, eks.amazonaws.com/nodegroup, cloud.google.com/gke-nodepool"

// pinnedHost is the node name a pod spec is bound to, or "".
func pinnedHost(spec *corev1.PodSpec) string {
	if spec.NodeName != "" {
		return spec.NodeName
	}
	if h := spec.NodeSelector[corev1.LabelHostname]; h != "" {
		return h
	}
	if a := spec.Affinity; a != nil && a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		return hostsOf(a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms)
	}
	return ""
}

// hostsOf is the node names that required node selector terms admit, or ""
// when a term admits nodes by anything but their name.
func hostsOf(terms []corev1.NodeSelectorTerm) string {
	var hosts []string
	for _, t := range terms {
		pinned := ""
		for _, e := range t.MatchExpressions {
			if e.Key == corev1.LabelHostname && e.Operator == corev1.NodeSelectorOpIn && len(e.Values) > 0 {
				pinned = strings.Join(e.Values, ", ")
			}
		}
		if pinned == "" {
			return "" // a term that allows other nodes
		}
		hosts = append(hosts, pinned)
	}
	return strings.Join(hosts, ", ")
}

func sortFindings(f []report.Finding) {
	sort.Slice(f, func(i, j int) bool {
		if f[i].Namespace != f[j].Namespace {
			return f[i].Namespace < f[j].Namespace
		}
		return f[i].Name < f[j].Name
	})
}
