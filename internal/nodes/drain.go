package nodes

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/kubectl/pkg/drain"
)

// A drain here is kubectl's (k8s.io/kubectl/pkg/drain picks the pods and
// sends each eviction) with two waits made event-driven. kubectl sleeps a
// fixed delay after a PodDisruptionBudget refuses an eviction and polls
// every second for an evicted pod to be gone, sleeps that add up across a
// pool whenever the control plane has time to spare. Here a refused
// eviction is retried the moment a budget that covers the pod allows a
// disruption again (a watch on the budgets), and an evicted pod is known
// gone from a watch on its node.

// budgets watches the cluster's PodDisruptionBudgets and hands out their
// disruptions: when a budget's status says it allows k, the k pods that
// have waited longest for it are woken to try again, not every pod that
// waits (which would mostly earn refusals and load the API server the
// drain depends on).
type budgets struct {
	informer cache.SharedIndexInformer
	mu       sync.Mutex
	waiting  map[types.NamespacedName][]*waiter // oldest first
}

// waiter is one refused eviction waiting for a budget.
type waiter struct {
	woken chan struct{}
	once  sync.Once
}

func (w *waiter) wake() { w.once.Do(func() { close(w.woken) }) }

// watchBudgets starts the watch; it ends with ctx.
func watchBudgets(ctx context.Context, client kubernetes.Interface) (*budgets, error) {
	factory := informers.NewSharedInformerFactory(client, 0)
	b := &budgets{informer: factory.Policy().V1().PodDisruptionBudgets().Informer(), waiting: map[types.NamespacedName][]*waiter{}}
	changed := func(obj any) {
		if pdb, ok := obj.(*policyv1.PodDisruptionBudget); ok && pdb.Status.DisruptionsAllowed > 0 {
			b.wake(types.NamespacedName{Namespace: pdb.Namespace, Name: pdb.Name}, int(pdb.Status.DisruptionsAllowed))
		}
	}
	if _, err := b.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    changed,
		UpdateFunc: func(_, obj any) { changed(obj) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if pdb, ok := obj.(*policyv1.PodDisruptionBudget); ok {
				b.wake(types.NamespacedName{Namespace: pdb.Namespace, Name: pdb.Name}, math.MaxInt)
			}
		},
	}); err != nil {
		return nil, err
	}
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), b.informer.HasSynced) {
		return nil, fmt.Errorf("watching PodDisruptionBudgets: %w", context.Cause(ctx))
	}
	return b, nil
}

// wake wakes up to n of the budget's waiters, oldest first.
func (b *budgets) wake(key types.NamespacedName, n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	queue := b.waiting[key]
	n = min(n, len(queue))
	for _, w := range queue[:n] {
		w.wake()
	}
	if n == len(queue) {
		delete(b.waiting, key)
		return
	}
	b.waiting[key] = queue[n:]
}

// wait queues a refused eviction of the pod behind the budgets that cover
// it, and returns the waiter (woken when one of them hands it a
// disruption), whether any budget covers the pod, and the versions of the
// budgets it saw. The caller calls done when it stops waiting.
//
// A budget whose status already allows a disruption wakes the waiter at
// once, unless the caller saw that same status before (seen): the
// eviction that was just refused may have raced the status update that
// would have woken it, but a status the API server has already refused
// against is not worth another try.
func (b *budgets) wait(pod *corev1.Pod, seen string) (w *waiter, covered bool, now string, done func()) {
	objs, _ := b.informer.GetIndexer().ByIndex(cache.NamespaceIndex, pod.Namespace)
	w = &waiter{woken: make(chan struct{})}
	var keys []types.NamespacedName
	var versions []string
	allows := false
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, obj := range objs {
		pdb := obj.(*policyv1.PodDisruptionBudget)
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil || pdb.Spec.Selector == nil || !sel.Matches(labelSet(pod.Labels)) {
			continue
		}
		key := types.NamespacedName{Namespace: pdb.Namespace, Name: pdb.Name}
		b.waiting[key] = append(b.waiting[key], w)
		keys = append(keys, key)
		versions = append(versions, pdb.ResourceVersion)
		allows = allows || pdb.Status.DisruptionsAllowed > 0
	}
	now = strings.Join(versions, ",")
	if allows && now != seen {
		w.wake()
	}
	return w, len(keys) > 0, now, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, key := range keys {
			b.waiting[key] = slices.DeleteFunc(b.waiting[key], func(o *waiter) bool { return o == w })
			if len(b.waiting[key]) == 0 {
				delete(b.waiting, key)
			}
		}
	}
}

// nodePods watches the pods of one node, to know when evicted ones are
// gone.
type nodePods struct {
	store cache.Store
	mu    sync.Mutex
	waits map[types.UID]chan struct{}
}

func watchNodePods(ctx context.Context, client kubernetes.Interface, node string) (*nodePods, error) {
	onNode := fields.OneTermEqualSelector("spec.nodeName", node).String()
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = onNode
			return client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = onNode
			return client.CoreV1().Pods(metav1.NamespaceAll).Watch(ctx, o)
		},
	}
	informer := cache.NewSharedIndexInformer(lw, &corev1.Pod{}, 0, cache.Indexers{})
	np := &nodePods{store: informer.GetStore(), waits: map[types.UID]chan struct{}{}}
	if _, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{DeleteFunc: np.deleted}); err != nil {
		return nil, err
	}
	go informer.RunWithContext(ctx)
	if !cache.WaitForCacheSync(ctx.Done(), informer.HasSynced) {
		return nil, fmt.Errorf("watching the pods of node %s: %w", node, context.Cause(ctx))
	}
	return np, nil
}

func (np *nodePods) deleted(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	np.mu.Lock()
	defer np.mu.Unlock()
	if ch, ok := np.waits[pod.UID]; ok {
		close(ch)
		delete(np.waits, pod.UID)
	}
}

// gone returns a channel closed once the pod has left the node.
func (np *nodePods) gone(pod *corev1.Pod) <-chan struct{} {
	np.mu.Lock()
	defer np.mu.Unlock()
	if ch, ok := np.waits[pod.UID]; ok {
		return ch
	}
	ch := make(chan struct{})
	obj, exists, _ := np.store.Get(pod)
	if cur, ok := obj.(*corev1.Pod); !exists || !ok || cur.UID != pod.UID {
		close(ch)
		return ch
	}
	np.waits[pod.UID] = ch
	return ch
}

// drainNode evicts the pods a drain would evict from a cordoned node, each
// as soon as its budgets allow, and returns once they are all gone or
// timeout has passed, with the workloads the pods belonged to.
func (u *Upgrade) drainNode(ctx context.Context, b *budgets, node string, timeout time.Duration) ([]workload, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, errDrainTimeout)
	defer cancel()
	np, err := watchNodePods(ctx, u.Client, node)
	if err != nil {
		return nil, err
	}
	helper := u.helper(ctx)
	list, errs := helper.GetPodsForDeletion(node)
	if len(errs) > 0 {
		return nil, fmt.Errorf("listing the pods of node %s: %w", node, errors.Join(errs...))
	}
	pods := list.Pods()
	evictErrs := make([]error, len(pods))
	var wg sync.WaitGroup
	for i := range pods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			evictErrs[i] = u.evict(ctx, helper, b, np, &pods[i])
		}()
	}
	wg.Wait()
	return workloadsOf(pods), errors.Join(evictErrs...)
}

var errDrainTimeout = errors.New("drain timeout reached")

// budgetRetryDelay is how long a refused eviction waits at most when a
// budget covers the pod: its watch wakes the pod first, unless a status
// update was missed.
const budgetRetryDelay = 5 * time.Second

// evict evicts one pod, retrying while budgets refuse, and waits until it
// is gone.
func (u *Upgrade) evict(ctx context.Context, helper *drain.Helper, b *budgets, np *nodePods, pod *corev1.Pod) error {
	seen := "" // the budgets' versions at the last refusal
	for {
		err := helper.EvictPod(*pod, policyv1.SchemeGroupVersion)
		terminating := apierrors.IsForbidden(err) && apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause)
		switch {
		case err == nil, apierrors.IsNotFound(err), terminating && pod.DeletionTimestamp != nil:
			select {
			case <-np.gone(pod):
				return nil
			case <-ctx.Done():
				return fmt.Errorf("pod %s/%s was evicted but is still on the node: %w", pod.Namespace, pod.Name, context.Cause(ctx))
			}
		case apierrors.IsTooManyRequests(err), terminating:
			// A budget (or the API server's flow control) says not now.
			// Try again when a budget that covers the pod hands it a
			// disruption; the retry delay is a floor for what no watch
			// announces, longer when a budget will announce it.
			w, covered, now, done := b.wait(pod, seen)
			seen = now
			delay := u.EvictionRetryDelay
			if covered {
				delay = max(delay, budgetRetryDelay)
			}
			retry := time.NewTimer(delay)
			var gone, cancelled bool
			select {
			case <-w.woken:
			case <-retry.C:
			case <-np.gone(pod):
				gone = true
			case <-ctx.Done():
				cancelled = true
			}
			retry.Stop()
			done()
			switch {
			case gone:
				return nil
			case cancelled:
				return fmt.Errorf("evicting pod %s/%s: %w (last refusal: %w)", pod.Namespace, pod.Name, context.Cause(ctx), err)
			}
		default:
			return fmt.Errorf("evicting pod %s/%s: %w", pod.Namespace, pod.Name, err)
		}
	}
}
