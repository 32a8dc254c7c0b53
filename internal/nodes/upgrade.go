package nodes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/kubectl/pkg/drain"

	"upshift.dev/upshift/internal/nodepool"
)

// Pool is what a provider offers for one node pool.
type Pool interface {
	// AddNodes creates n nodes at the upgrade's target and returns their
	// names.
	AddNodes(ctx context.Context, n int) ([]string, error)
	// RemoveNodes deletes the nodes and their machines.
	RemoveNodes(ctx context.Context, names []string) error
}

// Upgrade replaces every node of a pool that is not at the target.
type Upgrade struct {
	Client kubernetes.Interface
	Pool   Pool
	// Selector selects the pool's nodes (a label selector).
	Selector string
	// Current reports whether a node is already at the target.
	Current func(*corev1.Node) bool
	// Size is the pool's node count, kept through the upgrade.
	Size int
	// MaxSurge is how many extra nodes may exist at once: a count or a
	// percentage of Size, rounded up; at least 1. Default 1.
	MaxSurge intstr.IntOrString
	// DrainTimeout bounds the drain of each node. Default 30 minutes.
	DrainTimeout time.Duration
	// ReadyTimeout bounds the wait for surge nodes. Default 10 minutes.
	ReadyTimeout time.Duration
	// EvictionRetryDelay is the longest pause before retrying an eviction
	// that was refused (HTTP 429): a refused eviction is retried as soon
	// as a budget that covers the pod allows a disruption again, and after
	// this delay when no budget says so. Default 1s; never 0, which spins.
	EvictionRetryDelay time.Duration
	// Soak is a wait after each old node is deleted, before its slot in
	// the window takes the next one (AKS's node soak duration).
	Soak time.Duration
	// SoakReadyPods makes the soak first wait until the workloads of the
	// pods the node's drain evicted (ReplicaSets, StatefulSets) are back
	// to their desired Ready replicas, failing the upgrade with the
	// workloads named after SoakReadyTimeout (default 10 minutes).
	SoakReadyPods    bool
	SoakReadyTimeout time.Duration
	// EscalateAfter, when set, bounds each node's drain instead of
	// DrainTimeout before the escalation: with DeleteBlockers, the pods a
	// PodDisruptionBudget alone keeps on the node are deleted (those with
	// emptyDir data only with AllowLocalData) and the drain finishes under
	// DrainTimeout; what is left, or without DeleteBlockers, goes to
	// OnUndrainable.
	EscalateAfter  time.Duration
	DeleteBlockers bool
	AllowLocalData bool
	// OnUndrainable says what happens to nodes whose drain times out
	// (AKS's undrainableNodeBehavior): UndrainableSchedule (the default)
	// makes them schedulable again and fails the upgrade; UndrainableCordon
	// leaves them cordoned, labels them quarantined, and goes on with the
	// other nodes.
	OnUndrainable string
	// Events receives progress, one event at a time; nil discards it.
	Events func(nodepool.Event)

	emitMu sync.Mutex // the window's drains report concurrently
}

// quotedCount reads a quoted count ("1", as AKS's API writes maxSurge) as
// the count it is.
func quotedCount(v intstr.IntOrString) intstr.IntOrString {
	if v.Type == intstr.String && !strings.HasSuffix(v.StrVal, "%") {
		return intstr.Parse(v.StrVal)
	}
	return v
}

// SurgeCount resolves maxSurge against a pool size: percentages round up,
// and the result is at least 1.
func SurgeCount(maxSurge intstr.IntOrString, size int) (int, error) {
	if maxSurge.Type == intstr.String && maxSurge.StrVal == "" {
		return 1, nil
	}
	maxSurge = quotedCount(maxSurge)
	n, err := intstr.GetScaledValueFromIntOrPercent(&maxSurge, size, true)
	if err != nil {
		return 0, fmt.Errorf("maxSurge %q: %w (use a count such as 3 or a percentage such as 33%%)", maxSurge.String(), err)
	}
	if n < 0 {
		return 0, fmt.Errorf("maxSurge %q must not be negative", maxSurge.String())
	}
	return max(n, 1), nil
}

func (u *Upgrade) defaults() {
	if u.DrainTimeout == 0 {
		u.DrainTimeout = nodepool.DefaultDrainTimeout
	}
	if u.ReadyTimeout == 0 {
		u.ReadyTimeout = 10 * time.Minute
	}
	if u.SoakReadyTimeout == 0 {
		u.SoakReadyTimeout = 10 * time.Minute
	}
	if u.EvictionRetryDelay <= 0 {
		u.EvictionRetryDelay = time.Second
	}
	if u.MaxSurge.Type == intstr.Int && u.MaxSurge.IntVal == 0 {
		u.MaxSurge = intstr.FromInt32(1)
	}
}

func (u *Upgrade) emit(step string, nodes []string, format string, args ...any) {
	if u.Events != nil {
		u.emitMu.Lock()
		defer u.emitMu.Unlock()
		u.Events(nodepool.Event{Time: time.Now(), Step: step, Nodes: nodes, Message: fmt.Sprintf(format, args...)})
	}
}

// Run upgrades the pool and returns when no old node is left, or on the
// first failure. Nodes of a failed drain stay cordoned.
//
// Up to maxSurge old nodes are drained at once, a window rather than
// batches: as soon as one is empty it is deleted (and soaked), and the next
// old node takes its slot once a node at the target has taken its place.
// Pods are evicted as their budgets allow (drainNode).
func (u *Upgrade) Run(ctx context.Context) (nodepool.Result, error) {
	u.defaults()
	start := time.Now()
	surge, err := SurgeCount(u.MaxSurge, u.Size)
	if err != nil {
		return nodepool.Result{}, err
	}
	var res nodepool.Result
	for {
		current, old, err := u.split(ctx)
		if err != nil {
			return res, err
		}
		if len(old) == 0 {
			res.Duration = time.Since(start)
			u.emit("Done", nil, "every node of the pool is at the target (%d replaced in %d batch(es))", res.Replaced, res.Batches)
			return res, nil
		}
		if err := u.pass(ctx, surge, len(current), old, &res); err != nil {
			return res, err
		}
	}
}

// outcome is how the drain of one old node ended.
type outcome struct {
	node string
	err  error
	// drained is how long the node took from its drain to its deletion.
	drained time.Duration
}

// pass replaces the old nodes split found, through the window.
func (u *Upgrade) pass(ctx context.Context, surge, atTarget int, old []string, res *nodepool.Result) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	b, err := watchBudgets(ctx, u.Client)
	if err != nil {
		return err
	}
	done := make(chan outcome, len(old))
	inFlight, next := 0, 0
	var failed error
	// Once something failed, no new batch starts: the loop only waits for
	// the drains under way.
	for (failed == nil && next < len(old)) || inFlight > 0 {
		if failed == nil && next < len(old) && inFlight < surge {
			batch := old[next:min(next+surge-inFlight, len(old))]
			// While old nodes are cordoned, nodes at the target take their
			// place, counting those an interrupted pass already made.
			if add := u.Size - len(old) + next + len(batch) - atTarget; add > 0 {
				u.emit("Surge", nil, "adding %d surge node(s) at the target", add)
				added := time.Now()
				names, err := u.Pool.AddNodes(ctx, add)
				if err != nil {
					return fmt.Errorf("adding surge nodes: %w", err)
				}
				if err := u.waitReady(ctx, names); err != nil {
					return err
				}
				res.NodeReady = append(res.NodeReady, time.Since(added))
				u.emit("Ready", names, "surge node(s) Ready: %s", strings.Join(names, ", "))
				atTarget += add
			}
			if err := u.cordon(ctx, batch); err != nil {
				return err
			}
			res.Batches++
			u.emit("Drain", batch, "draining %s (timeout %s)", strings.Join(batch, ", "), u.DrainTimeout)
			for _, node := range batch {
				go func() {
					start := time.Now()
					var o outcome
					o.node, o.err = node, u.replace(ctx, b, node, func() { o.drained = time.Since(start) })
					done <- o
				}()
			}
			inFlight += len(batch)
			next += len(batch)
			continue
		}
		o := <-done
		inFlight--
		if o.err == nil {
			res.Replaced++
			res.Drains = append(res.Drains, o.drained)
			continue
		}
		var de *nodepool.DrainError
		if !errors.As(o.err, &de) {
			// The window stops filling; the drains under way end first,
			// so that no node is left half drained by our own hand.
			failed = errors.Join(failed, o.err)
			continue
		}
		if u.OnUndrainable != nodepool.UndrainableCordon {
			u.emit("Uncordon", de.Nodes, "making %s schedulable again: the upgrade fails (undrainableNodeBehavior Schedule)", strings.Join(de.Nodes, ", "))
			u.setSchedulable(ctx, de.Nodes)
			failed = errors.Join(failed, de)
			continue
		}
		u.emit("Quarantine", de.Nodes, "leaving %s cordoned and labelled %s=quarantined: %v", strings.Join(de.Nodes, ", "), nodepool.LabelQuarantined, de)
		if err := u.quarantine(ctx, de.Nodes); err != nil {
			failed = errors.Join(failed, de, err)
			continue
		}
		res.Quarantined = append(res.Quarantined, de.Nodes...)
	}
	return failed
}

// replace drains one cordoned old node, deletes it (then calls deleted),
// and soaks.
func (u *Upgrade) replace(ctx context.Context, b *budgets, node string, deleted func()) error {
	first := u.DrainTimeout
	if u.EscalateAfter > 0 {
		first = u.EscalateAfter
	}
	owners, err := u.drainNode(ctx, b, node, first)
	if err != nil && u.DeleteBlockers && ctx.Err() == nil {
		var more []workload
		if more, err = u.deleteBlockers(ctx, b, node, first); err == nil {
			owners = append(owners, more...)
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		de := &nodepool.DrainError{Nodes: []string{node}, Timeout: first, Err: err}
		var esc *escalationError
		if errors.As(err, &esc) {
			de.Escalation = esc.Error()
		}
		blockers, berr := Blockers(ctx, u.Client, de.Nodes)
		de.Blockers = blockers
		if berr != nil {
			de.Err = errors.Join(err, berr)
		}
		return de
	}
	u.emit("Delete", []string{node}, "deleting drained node %s", node)
	if err := u.Pool.RemoveNodes(ctx, []string{node}); err != nil {
		return fmt.Errorf("deleting drained node %s: %w", node, err)
	}
	deleted()
	if u.SoakReadyPods && len(owners) > 0 {
		u.emit("Soak", []string{node}, "waiting for the %d workload(s) %s evicted to be back at their Ready replicas (at most %s)", len(owners), node, u.SoakReadyTimeout)
		if err := waitWorkloads(ctx, u.Client, owners, u.SoakReadyTimeout); err != nil {
			return fmt.Errorf("soak after node %s: %w", node, err)
		}
	}
	if u.Soak > 0 {
		u.emit("Soak", []string{node}, "soaking for %s after %s", u.Soak, node)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(u.Soak):
		}
	}
	return nil
}

// split returns the names of the pool's nodes at the target and the others,
// cordoned old nodes first: an interrupted pass had started on them.
func (u *Upgrade) split(ctx context.Context) (current, old []string, err error) {
	list, err := u.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: u.Selector})
	if err != nil {
		return nil, nil, fmt.Errorf("listing the pool's nodes: %w", err)
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
	var cordoned, rest []string
	for i := range list.Items {
		n := &list.Items[i]
		switch {
		case n.DeletionTimestamp != nil, n.Labels[nodepool.LabelQuarantined] == "quarantined":
		case u.Current(n):
			current = append(current, n.Name)
		case n.Spec.Unschedulable:
			cordoned = append(cordoned, n.Name)
		default:
			rest = append(rest, n.Name)
		}
	}
	return current, append(cordoned, rest...), nil
}

func (u *Upgrade) waitReady(ctx context.Context, names []string) error {
	deadline := time.Now().Add(u.ReadyTimeout)
	for {
		ready := 0
		for _, name := range names {
			n, err := u.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			if err == nil && Ready(n) {
				ready++
			}
		}
		if ready == len(names) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("surge nodes %s were not Ready within %s", strings.Join(names, ", "), u.ReadyTimeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Ready reports whether the node's Ready condition is True.
func Ready(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// cordon marks the nodes unschedulable, all of them before any drain
// starts, so evicted pods do not land on a node about to go.
func (u *Upgrade) cordon(ctx context.Context, names []string) error {
	helper := u.helper(ctx)
	u.emit("Cordon", names, "cordoning %s", strings.Join(names, ", "))
	for _, name := range names {
		n, err := u.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("cordoning node %s: %w", name, err)
		}
		if err := drain.RunCordonOrUncordon(helper, n, true); err != nil {
			return fmt.Errorf("cordoning node %s: %w", name, err)
		}
	}
	return nil
}

// setSchedulable uncordons nodes, best effort: the upgrade is failing.
func (u *Upgrade) setSchedulable(ctx context.Context, names []string) {
	helper := u.helper(ctx)
	for _, name := range names {
		if n, err := u.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{}); err == nil {
			_ = drain.RunCordonOrUncordon(helper, n, false)
		}
	}
}

// quarantine labels undrainable nodes, which stay cordoned.
func (u *Upgrade) quarantine(ctx context.Context, names []string) error {
	patch := []byte(`{"metadata":{"labels":{"` + nodepool.LabelQuarantined + `":"quarantined"}}}`)
	for _, name := range names {
		if _, err := u.Client.CoreV1().Nodes().Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
			return fmt.Errorf("labelling node %s quarantined: %w", name, err)
		}
	}
	return nil
}

func (u *Upgrade) helper(ctx context.Context) *drain.Helper {
	return &drain.Helper{
		Ctx:                 ctx,
		Client:              u.Client,
		Force:               true, // pods without a controller are lost either way; say so in the audit
		GracePeriodSeconds:  -1,
		IgnoreAllDaemonSets: true,
		DeleteEmptyDirData:  true,
		Out:                 io.Discard,
		ErrOut:              io.Discard,
	}
}

// Blockers lists the pods still on the nodes that a drain would evict, with
// the PodDisruptionBudgets that cover each and what they allow.
func Blockers(ctx context.Context, client kubernetes.Interface, nodeNames []string) ([]nodepool.Blocker, error) {
	var out []nodepool.Blocker
	pdbCache := map[string][]pdbInfo{}
	for _, node := range nodeNames {
		pods, err := client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + node})
		if err != nil {
			return out, fmt.Errorf("listing pods on %s: %w", node, err)
		}
		for i := range pods.Items {
			pod := &pods.Items[i]
			if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed || daemonSetPod(pod) {
				continue
			}
			pdbs, ok := pdbCache[pod.Namespace]
			if !ok {
				if pdbs, err = listPDBs(ctx, client, pod.Namespace); err != nil {
					return out, err
				}
				pdbCache[pod.Namespace] = pdbs
			}
			b := nodepool.Blocker{Pod: pod.Namespace + "/" + pod.Name}
			for _, p := range pdbs {
				if p.selector.Matches(labelSet(pod.Labels)) {
					b.PDBs = append(b.PDBs, p.describe)
				}
			}
			out = append(out, b)
		}
	}
	return out, nil
}

func daemonSetPod(pod *corev1.Pod) bool {
	for _, ref := range pod.OwnerReferences {
		if ref.Kind == "DaemonSet" && ref.Controller != nil && *ref.Controller {
			return true
		}
	}
	return false
}
