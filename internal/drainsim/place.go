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
// matches a required anti-affinity term of the pod. Required pod
// affinity, topology spread and volume zones are not replayed.

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
		domain, ok := n.node.Labels[term.TopologyKey]
		if !ok {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(term.LabelSelector)
		if err != nil {
			continue
		}
		namespaces := sets.New(term.Namespaces...)
		if len(namespaces) == 0 {
			namespaces.Insert(p.Namespace)
		}
		for _, m := range s.nodes {
			if m.gone || m.node.Labels[term.TopologyKey] != domain {
				continue
			}
			for _, q := range m.pods {
				if namespaces.Has(q.pod.Namespace) && sel.Matches(labels.Set(q.pod.Labels)) {
					return true
				}
			}
		}
	}
	return false
}

func requests(p *corev1.Pod) corev1.ResourceList {
	return resource.PodRequests(p, resource.PodResourcesOptions{})
}
