package drainsim

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/component-helpers/resource"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"

	"upshift.dev/upshift/internal/nodes"
)

// The scheduler's filters the replay applies to a replacement, in the
// scheduler's terms: the node is schedulable and Ready, the pod's node
// selector and required node affinity match it, the pod tolerates its
// NoSchedule and NoExecute taints, its requests fit what the node has
// left (and its pod count), and no pod in the node's topology domain
// matches a required anti-affinity term of the pod, its required pod
// affinity terms find their pods in the node's domain, and its
// DoNotSchedule topology spread constraints hold. Volume zones and
// preferences are not replayed.

// place picks the least loaded node the pod fits, or says why none does
// ("0/7 nodes fit: 3 cordoned for the upgrade, 4 Insufficient cpu").
func (s *sim) place(p *corev1.Pod) (*simNode, string) {
	var best *simNode
	reasons := map[string]int{}
	live := 0
	for _, n := range s.nodes {
		if n.gone {
			continue
		}
		live++
		if why := s.fits(p, n); why != "" {
			reasons[why]++
			continue
		}
		if best == nil || len(n.pods) < len(best.pods) {
			best = n
		}
	}
	if best != nil {
		return best, ""
	}
	var parts []string
	for _, why := range slices.Sorted(maps.Keys(reasons)) {
		parts = append(parts, fmt.Sprintf("%d %s", reasons[why], why))
	}
	return nil, fmt.Sprintf("0/%d nodes fit: %s", live, strings.Join(parts, ", "))
}

// fits is why the pod cannot go on the node, or "".
func (s *sim) fits(p *corev1.Pod, n *simNode) string {
	node := n.node
	if n.cordoned || node.Spec.Unschedulable {
		return "cordoned for the upgrade"
	}
	if !nodes.Ready(node) {
		return "not Ready"
	}
	if ok, _ := nodeaffinity.GetRequiredNodeAffinity(p).Match(node); !ok {
		return "not matching the pod's node selector or affinity"
	}
	noSchedule := func(t *corev1.Taint) bool {
		return t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute
	}
	if t, bad := corev1helpers.FindMatchingUntoleratedTaint(klog.Background(), node.Spec.Taints, p.Spec.Tolerations, noSchedule, false); bad {
		return fmt.Sprintf("with untolerated taint %s", t.ToString())
	}
	if pods, ok := node.Status.Allocatable[corev1.ResourcePods]; ok && int64(len(n.pods)+1) > pods.Value() {
		return "Too many pods"
	}
	for r, q := range requests(p) {
		if q.IsZero() {
			continue
		}
		alloc, ok := node.Status.Allocatable[r]
		if !ok {
			return "Insufficient " + string(r)
		}
		left := alloc.DeepCopy()
		left.Sub(n.used[r])
		if left.Cmp(q) < 0 {
			return "Insufficient " + string(r)
		}
	}
	if s.antiAffinityConflict(p, n) {
		return "holding a pod the pod's anti-affinity excludes"
	}
	if !s.affinityMet(p, n) {
		return "not in a domain of the pods the pod's affinity requires"
	}
	if why := s.spreadViolated(p, n); why != "" {
		return why
	}
	return ""
}

// podsIn calls f with each pod on a node left in the same topology domain
// as n (by key), until f says stop.
func (s *sim) podsIn(key string, n *simNode, f func(*corev1.Pod) bool) {
	domain, ok := n.node.Labels[key]
	if !ok {
		return
	}
	for _, m := range s.nodes {
		if m.gone {
			continue
		}
		if v, ok := m.node.Labels[key]; !ok || v != domain {
			continue
		}
		for _, q := range m.pods {
			if !f(q.pod) {
				return
			}
		}
	}
}

// termMatches says whether q is a pod an affinity term of p names (a
// namespace selector is taken to select every namespace: the snapshot
// holds no namespaces' labels).
func termMatches(p *corev1.Pod, term corev1.PodAffinityTerm, sel labels.Selector, q *corev1.Pod) bool {
	namespaces := sets.New(term.Namespaces...)
	if len(namespaces) == 0 && term.NamespaceSelector == nil {
		namespaces.Insert(p.Namespace)
	}
	if term.NamespaceSelector == nil && !namespaces.Has(q.Namespace) {
		return false
	}
	return sel.Matches(labels.Set(q.Labels))
}

// affinityMet says whether every required pod affinity term of p finds a
// matching pod in n's domain — or, as the scheduler allows for the first
// pod of a group, no pod anywhere matches the term and p matches it
// itself.
func (s *sim) affinityMet(p *corev1.Pod, n *simNode) bool {
	a := p.Spec.Affinity
	if a == nil || a.PodAffinity == nil {
		return true
	}
	for _, term := range a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
		sel, err := metav1.LabelSelectorAsSelector(term.LabelSelector)
		if err != nil {
			continue
		}
		if _, ok := n.node.Labels[term.TopologyKey]; !ok {
			return false
		}
		found := false
		s.podsIn(term.TopologyKey, n, func(q *corev1.Pod) bool {
			found = termMatches(p, term, sel, q)
			return !found
		})
		if found {
			continue
		}
		anywhere := false
		for _, m := range s.nodes {
			for _, q := range m.pods {
				if !m.gone && termMatches(p, term, sel, q.pod) {
					anywhere = true
				}
			}
		}
		if anywhere || !termMatches(p, term, sel, p) {
			return false
		}
	}
	return true
}

// spreadViolated is why placing p on n would break one of its
// DoNotSchedule topology spread constraints (the skew of its matching
// pods between the domains of the nodes that stay which its node
// affinity allows), or "". The scheduler also counts the domain of a node
// being drained until the node is deleted; a replacement it holds
// Pending for that long is not a drain that never finishes.
func (s *sim) spreadViolated(p *corev1.Pod, n *simNode) string {
	required := nodeaffinity.GetRequiredNodeAffinity(p)
	for _, c := range p.Spec.TopologySpreadConstraints {
		if c.WhenUnsatisfiable != corev1.DoNotSchedule {
			continue
		}
		domain, ok := n.node.Labels[c.TopologyKey]
		if !ok {
			return "missing the label " + c.TopologyKey + " the pod's topology spread needs"
		}
		sel, err := metav1.LabelSelectorAsSelector(c.LabelSelector)
		if err != nil {
			continue
		}
		counts := map[string]int{}
		for _, m := range s.nodes {
			if m.gone || m.cordoned {
				continue // nodes the upgrade takes away are no domain for long
			}
			d, ok := m.node.Labels[c.TopologyKey]
			if !ok {
				continue
			}
			if match, _ := required.Match(m.node); !match {
				continue
			}
			counts[d] += 0
			for _, q := range m.pods {
				if q.pod.Namespace == p.Namespace && sel.Matches(labels.Set(q.pod.Labels)) {
					counts[d]++
				}
			}
		}
		least := -1
		for _, v := range counts {
			if least < 0 || v < least {
				least = v
			}
		}
		if least < 0 {
			least = 0
		}
		if counts[domain]+1-least > int(c.MaxSkew) {
			return fmt.Sprintf("over the pod's topology spread (maxSkew %d by %s)", c.MaxSkew, c.TopologyKey)
		}
	}
	return ""
}

// antiAffinityConflict says whether a pod in n's topology domain matches
// a required anti-affinity term of p.
func (s *sim) antiAffinityConflict(p *corev1.Pod, n *simNode) bool {
	a := p.Spec.Affinity
	if a == nil || a.PodAntiAffinity == nil {
		return false
	}
	for _, term := range a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
		sel, err := metav1.LabelSelectorAsSelector(term.LabelSelector)
		if err != nil {
			continue
		}
		conflict := false
		s.podsIn(term.TopologyKey, n, func(q *corev1.Pod) bool {
			conflict = termMatches(p, term, sel, q)
			return !conflict
		})
		if conflict {
			return true
		}
	}
	return false
}

func requests(p *corev1.Pod) corev1.ResourceList {
	return resource.PodRequests(p, resource.PodResourcesOptions{})
}
