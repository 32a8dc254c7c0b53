package drainsim

import (
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/kubectl/pkg/util/podutils"

	"upshift.dev/upshift/internal/nodepool"
	"upshift.dev/upshift/internal/nodes"
)

// Replay is one pool of a cluster replayed: its result, or why there is
// none.
type Replay struct {
	Cluster string `json:"cluster"`
	Pool    string `json:"pool"`
	*Result
	// DryRuns counts the server-side dry-run evictions sent (Confirm).
	DryRuns int `json:"dryRunEvictions"`
	// Error says why the pool was not replayed, or not wholly.
	Error string `json:"error,omitempty"`
	// Window is how the pool's duration compares with the shortest
	// maintenance window its step waits for; nil without one.
	Window *WindowFit `json:"window,omitempty"`
}

// Pool is the pool to replay and how the run will upgrade it.
type Pool struct {
	Name string
	// Selector picks the pool's nodes.
	Selector labels.Selector
	// Current reports whether a node already runs the target, so the
	// upgrade leaves it; nil replaces every node.
	Current func(*corev1.Node) bool
	// MaxSurge, DrainTimeout, Soak and OnUndrainable as the run sets them
	// (zero: the upgrade's defaults).
	MaxSurge      intstr.IntOrString
	DrainTimeout  time.Duration
	Soak          time.Duration
	OnUndrainable string
}

// Result is the replay of one pool.
type Result struct {
	Pool string `json:"pool"`
	// Nodes is the pool's size; Replaced the old nodes the upgrade
	// replaces, MaxSurge how many at once.
	Nodes     int `json:"nodes"`
	Replaced  int `json:"replaced"`
	MaxSurge  int `json:"maxSurge"`
	Evictions int `json:"evictions"`
	// Batches are the old nodes in the order the upgrade drains them.
	Batches []Batch `json:"batches"`
	// Blockers stop a node's drain: the upgrade waits for them until its
	// drain timeout, then fails (or, with undrainableNodeBehavior Cordon,
	// leaves the node cordoned).
	Blockers []Finding `json:"blockers,omitempty"`
	// Warnings do not stop a drain but cost users: a replacement no node
	// can take, a pod nothing recreates.
	Warnings []Finding `json:"warnings,omitempty"`
	// StopsAt is the batch the upgrade fails in; 0 when it completes.
	StopsAt int `json:"stopsAtBatch,omitempty"`
	// BudgetWaves is the fewest rounds of "evict what the budgets allow,
	// wait for the replacements" the whole pool takes, however many
	// nodes drain at once: the most of any budget, its evictions over the
	// disruptions it allows at the start.
	BudgetWaves int `json:"budgetWaves"`
	// Duration is set by Predict.
	Duration *Prediction `json:"duration,omitempty"`

	// firsts are the first eviction of each workload, for Confirm.
	firsts []Finding
}

// Batch is one fill of the upgrade's window of maxSurge nodes.
type Batch struct {
	Number int      `json:"number"`
	Nodes  []string `json:"nodes"`
	// Surge is how many nodes at the target are added before it.
	Surge int `json:"surge,omitempty"`
	// Waves is how many rounds of "evict what the budgets allow, wait for
	// the replacements to be Ready" its drains take: the most of any
	// budget, its pods on the batch's nodes over the disruptions it
	// allows when the batch starts.
	Waves   int  `json:"waves"`
	Blocked bool `json:"blocked,omitempty"`
}

// Finding is a pod the replay says something about: when in the
// sequence, why, and what to change.
type Finding struct {
	Batch  int    `json:"batch"`
	Node   string `json:"node"`
	Pod    string `json:"pod"`              // namespace/name
	Budget string `json:"budget,omitempty"` // namespace/name
	Reason string `json:"reason"`
	Fix    string `json:"fix"`
	// Confirmed is the API server's answer to a dry-run eviction of the
	// pod now, when it refused it.
	Confirmed string `json:"confirmedByAPIServer,omitempty"`
}

// Simulate replays the pool's upgrade on the snapshot, which it does not
// change.
func Simulate(snap *Snapshot, pool Pool) (*Result, error) {
	s := newSim(snap)
	var current, cordoned, rest []*simNode
	for _, n := range s.nodes {
		switch {
		case n.gone, !pool.Selector.Matches(labels.Set(n.node.Labels)), n.node.Labels[nodepool.LabelQuarantined] == "quarantined":
		case pool.Current != nil && pool.Current(n.node):
			current = append(current, n)
		case n.node.Spec.Unschedulable:
			cordoned = append(cordoned, n)
		default:
			rest = append(rest, n)
		}
	}
	// The upgrade drains nodes a stopped run cordoned first, then the
	// others by name (nodes.Upgrade's split): s.nodes is sorted by name.
	old := append(cordoned, rest...)
	size := len(current) + len(old)
	if size == 0 {
		return nil, fmt.Errorf("no node matches pool %s's selector %q", pool.Name, pool.Selector)
	}
	surge, err := nodes.SurgeCount(pool.MaxSurge, size)
	if err != nil {
		return nil, err
	}
	res := &Result{Pool: pool.Name, Nodes: size, Replaced: len(old), MaxSurge: surge, Batches: []Batch{}}
	s.res = res
	template := poolTemplate(append(current, old...))
	atTarget := len(current)
	for next := 0; next < len(old); {
		batch := old[next:min(next+surge, len(old))]
		b := Batch{Number: len(res.Batches) + 1}
		if add := size - len(old) + next + len(batch) - atTarget; add > 0 {
			for i := range add {
				s.addSurge(template, batch[i%len(batch)].node)
			}
			b.Surge, atTarget = add, atTarget+add
		}
		for _, n := range batch {
			n.cordoned = true
			b.Nodes = append(b.Nodes, n.node.Name)
		}
		s.startBatch()
		for _, n := range batch {
			if s.drain(n, b.Number) {
				n.gone = true
			} else {
				b.Blocked = true
			}
		}
		b.Waves = s.waves()
		res.Batches = append(res.Batches, b)
		next += len(batch)
		if b.Blocked && pool.OnUndrainable != nodepool.UndrainableCordon {
			res.StopsAt = b.Number
			break
		}
	}
	for _, b := range s.budgets {
		if b.total > 0 {
			res.BudgetWaves = max(res.BudgetWaves, (b.total+max(b.allowed0, 1)-1)/max(b.allowed0, 1))
		}
	}
	return res, nil
}

// sim is the cluster as the replay changes it.
type sim struct {
	nodes   []*simNode // by name, then the surge nodes
	budgets []*simBudget
	res     *Result
	surged  int
	// evictions counts the batch's evictions.
	evictions int
	// workloads seen evicted, for the first eviction of each.
	workloads map[string]bool
}

type simNode struct {
	node           *corev1.Node
	cordoned, gone bool
	pods           []*simPod
	used           corev1.ResourceList
}

type simPod struct {
	pod     *corev1.Pod
	ready   bool
	budgets []*simBudget
	req     corev1.ResourceList
}

type simBudget struct {
	pdb *policyv1.PodDisruptionBudget
	sel labels.Selector
	// desired healthy pods; healthy now; expected pods.
	desired, healthy, expected int
	// pending are pods evicted earlier whose replacements found no node.
	pending []string
	// allowed is the disruptions it allowed when the batch started, and
	// evicted the pods it let go since.
	allowed, evicted int
	// allowed0 is what it allowed before the upgrade, and total the pods
	// it let go in all.
	allowed0, total int
}

// startBatch notes what each budget allows as a batch starts.
func (s *sim) startBatch() {
	s.evictions = 0
	for _, b := range s.budgets {
		b.allowed, b.evicted = max(b.healthy-b.desired, 0), 0
	}
}

// waves is the rounds the batch's evictions took (see Batch.Waves).
func (s *sim) waves() int {
	w := 0
	if s.evictions > 0 {
		w = 1
	}
	for _, b := range s.budgets {
		if b.evicted > 0 {
			w = max(w, (b.evicted+max(b.allowed, 1)-1)/max(b.allowed, 1))
		}
	}
	return w
}

func (b *simBudget) name() string { return b.pdb.Namespace + "/" + b.pdb.Name }

func newSim(snap *Snapshot) *sim {
	s := &sim{workloads: map[string]bool{}}
	byName := map[string]*simNode{}
	for i := range snap.Nodes {
		n := &simNode{node: &snap.Nodes[i], gone: snap.Nodes[i].DeletionTimestamp != nil, used: corev1.ResourceList{}}
		s.nodes = append(s.nodes, n)
		byName[n.node.Name] = n
	}
	slices.SortFunc(s.nodes, func(a, b *simNode) int { return strings.Compare(a.node.Name, b.node.Name) })
	for i := range snap.PDBs {
		pdb := &snap.PDBs[i]
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil {
			continue // the API server refuses its evictions; readiness reports the budget
		}
		s.budgets = append(s.budgets, &simBudget{pdb: pdb, sel: sel})
	}
	for i := range snap.Pods {
		p := &snap.Pods[i]
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		sp := &simPod{pod: p, ready: podutils.IsPodReady(p), req: requests(p)}
		for _, b := range s.budgets {
			if b.pdb.Namespace == p.Namespace && b.sel.Matches(labels.Set(p.Labels)) && p.DeletionTimestamp == nil {
				sp.budgets = append(sp.budgets, b)
				b.expected++
				if sp.ready {
					b.healthy++
				}
			}
		}
		if n := byName[p.Spec.NodeName]; n != nil {
			n.add(sp)
		}
	}
	for _, b := range s.budgets {
		b.desired = desiredHealthy(b.pdb, b.expected)
		b.allowed0 = max(b.healthy-b.desired, 0)
	}
	return s
}

// desiredHealthy is the budget's floor: the disruption controller's own
// figure when its status is current, else computed from the spec as the
// controller does.
func desiredHealthy(pdb *policyv1.PodDisruptionBudget, expected int) int {
	if pdb.Status.ObservedGeneration == pdb.Generation && pdb.Status.ExpectedPods > 0 {
		return int(pdb.Status.DesiredHealthy)
	}
	switch {
	case pdb.Spec.MinAvailable != nil:
		n, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MinAvailable, expected, true)
		if err == nil {
			return n
		}
	case pdb.Spec.MaxUnavailable != nil:
		n, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MaxUnavailable, expected, true)
		if err == nil {
			return max(expected-n, 0)
		}
	}
	return 0
}

func (n *simNode) add(p *simPod) {
	n.pods = append(n.pods, p)
	for r, q := range p.req {
		sum := n.used[r]
		sum.Add(q)
		n.used[r] = sum
	}
}

func (n *simNode) remove(p *simPod) {
	n.pods = slices.DeleteFunc(n.pods, func(q *simPod) bool { return q == p })
	for r, q := range p.req {
		sum := n.used[r]
		sum.Sub(q)
		n.used[r] = sum
	}
}

// poolTemplate is what a new node of the pool looks like: the first
// node's size and taints, and only the labels every node of the pool
// has (a label put on some nodes by hand is not on new ones).
func poolTemplate(pool []*simNode) *corev1.Node {
	t := pool[0].node.DeepCopy()
	for k, v := range t.Labels {
		for _, n := range pool[1:] {
			if n.node.Labels[k] != v {
				delete(t.Labels, k)
				break
			}
		}
	}
	return t
}

// zoneLabels place a node; a pool's nodes differ in them, so a new node
// takes those of the node it replaces (a scale set balanced over zones
// replaces zone for zone).
var zoneLabels = []string{corev1.LabelTopologyZone, corev1.LabelTopologyRegion, corev1.LabelFailureDomainBetaZone, corev1.LabelFailureDomainBetaRegion}

// addSurge adds a node at the target, made like the pool's, in the zone
// of the node it replaces.
func (s *sim) addSurge(template, replaces *corev1.Node) {
	s.surged++
	n := template.DeepCopy()
	n.Name = fmt.Sprintf("(surge node %d)", s.surged)
	if n.Labels == nil {
		n.Labels = map[string]string{}
	}
	for _, k := range zoneLabels {
		if v, ok := replaces.Labels[k]; ok {
			n.Labels[k] = v
		}
	}
	n.Labels[corev1.LabelHostname] = n.Name
	n.Spec.Unschedulable = false
	n.Spec.Taints = slices.DeleteFunc(n.Spec.Taints, func(t corev1.Taint) bool {
		return t.Key == corev1.TaintNodeUnschedulable || t.Key == corev1.TaintNodeNotReady || t.Key == corev1.TaintNodeUnreachable
	})
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
	s.nodes = append(s.nodes, &simNode{node: n, used: corev1.ResourceList{}})
}

// drain evicts what a drain of n evicts, in order; it reports whether
// every pod went.
func (s *sim) drain(n *simNode, batch int) bool {
	var evict []*simPod
	for _, p := range n.pods {
		if drained(p.pod) {
			evict = append(evict, p)
		}
	}
	slices.SortFunc(evict, func(a, b *simPod) int {
		return strings.Compare(a.pod.Namespace+"/"+a.pod.Name, b.pod.Namespace+"/"+b.pod.Name)
	})
	ok := true
	for _, p := range evict {
		if f := s.refused(p, n, batch); f != nil {
			s.res.Blockers = append(s.res.Blockers, *f)
			ok = false
			continue
		}
		s.evict(p, n, batch)
	}
	return ok
}

// drained says whether a drain evicts the pod (k8s.io/kubectl/pkg/drain
// with upshift's settings: DaemonSet pods and mirror pods stay; a pod
// already terminating is waited for, not evicted).
func drained(p *corev1.Pod) bool {
	if _, mirror := p.Annotations[corev1.MirrorPodAnnotationKey]; mirror || p.DeletionTimestamp != nil {
		return false
	}
	if c := metav1.GetControllerOf(p); c != nil && c.Kind == "DaemonSet" {
		return false
	}
	return true
}

// refused is why the eviction API refuses the pod at this point of the
// sequence, or nil.
func (s *sim) refused(p *simPod, n *simNode, batch int) *Finding {
	f := &Finding{Batch: batch, Node: n.node.Name, Pod: p.pod.Namespace + "/" + p.pod.Name}
	switch len(p.budgets) {
	case 0:
		return nil
	case 1:
	default:
		var names []string
		for _, b := range p.budgets {
			names = append(names, b.name())
		}
		f.Budget = strings.Join(names, ", ")
		f.Reason = fmt.Sprintf("%d PodDisruptionBudgets select it (%s): the eviction API refuses a pod under more than one budget, every time", len(names), f.Budget)
		f.Fix = "make the budgets' selectors disjoint: one budget per pod"
		return f
	}
	b := p.budgets[0]
	f.Budget = b.name()
	if !p.ready {
		if pol := b.pdb.Spec.UnhealthyPodEvictionPolicy; (pol != nil && *pol == policyv1.AlwaysAllow) || b.healthy >= b.desired {
			return nil
		}
		f.Reason = fmt.Sprintf("it is not Ready, and PodDisruptionBudget %s is short of healthy pods (%d of %d) and keeps unhealthy pods (unhealthyPodEvictionPolicy IfHealthyBudget)", b.name(), b.healthy, b.desired)
		f.Fix = "set unhealthyPodEvictionPolicy: AlwaysAllow on the budget, or make its pods Ready before upgrading"
		return f
	}
	if b.healthy-1 >= b.desired {
		return nil
	}
	switch {
	case b.desired >= b.expected:
		f.Reason = fmt.Sprintf("PodDisruptionBudget %s needs %d of its %d pod(s) healthy: it allows no disruption even when every pod is Ready", b.name(), b.desired, b.expected)
		f.Fix = "lower minAvailable below the replicas (or raise maxUnavailable above 0), or add replicas"
	case len(b.pending) > 0:
		f.Reason = fmt.Sprintf("PodDisruptionBudget %s needs %d healthy pod(s) and has %d: the replacement(s) of %s, evicted earlier in the sequence, find no node", b.name(), b.desired, b.healthy, strings.Join(b.pending, ", "))
		f.Fix = "make room for the replacements on the nodes that stay (capacity, selectors, taints, anti-affinity), or raise maxSurge"
	default:
		f.Reason = fmt.Sprintf("PodDisruptionBudget %s needs %d healthy pod(s) and has %d: some of its pods are not Ready", b.name(), b.desired, b.healthy)
		f.Fix = "make its pods Ready before upgrading"
	}
	return f
}

// evict takes the pod off its node and places its replacement, if
// anything recreates it.
func (s *sim) evict(p *simPod, n *simNode, batch int) {
	s.res.Evictions++
	s.evictions++
	n.remove(p)
	name := p.pod.Namespace + "/" + p.pod.Name
	if p.ready {
		for _, b := range p.budgets {
			b.healthy--
			b.evicted++
			b.total++
		}
	}
	owner := metav1.GetControllerOf(p.pod)
	if owner != nil {
		key := p.pod.Namespace + "/" + owner.Kind + "/" + owner.Name
		if !s.workloads[key] {
			s.workloads[key] = true
			s.res.firsts = append(s.res.firsts, Finding{Batch: batch, Node: n.node.Name, Pod: name})
		}
	} else {
		s.res.firsts = append(s.res.firsts, Finding{Batch: batch, Node: n.node.Name, Pod: name})
		s.res.Warnings = append(s.res.Warnings, Finding{Batch: batch, Node: n.node.Name, Pod: name,
			Reason: "no controller owns it: the drain deletes it and nothing recreates it",
			Fix:    "run it under a Deployment, StatefulSet or Job"})
		return
	}
	to, why := s.place(p.pod)
	if to == nil {
		for _, b := range p.budgets {
			b.pending = append(b.pending, name)
		}
		s.res.Warnings = append(s.res.Warnings, Finding{Batch: batch, Node: n.node.Name, Pod: name, Reason: "its replacement finds no node: " + why,
			Fix: "make room on the nodes that stay (capacity, selectors, taints, anti-affinity), or raise maxSurge"})
		return
	}
	to.add(&simPod{pod: p.pod, ready: p.ready, budgets: p.budgets, req: p.req})
	if p.ready {
		for _, b := range p.budgets {
			b.healthy++
		}
	}
}
