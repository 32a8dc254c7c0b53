package nodes

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// deleteBlockers is the DeletePod escalation of a drain that did not
// finish within after: it deletes the pods left on the node that a
// PodDisruptionBudget keeps (the eviction API refuses them; a delete does
// not ask budgets), except those with emptyDir data unless
// AllowLocalData, says so for the audit, and drains the node again under
// DrainTimeout. It fails, naming them, when a pod it may not delete stays.
func (u *Upgrade) deleteBlockers(ctx context.Context, b *budgets, node string, after time.Duration) ([]workload, error) {
	blockers, err := Blockers(ctx, u.Client, []string{node})
	if err != nil {
		return nil, err
	}
	var kept []string
	for _, bl := range blockers {
		if len(bl.PDBs) == 0 {
			continue // not kept by a budget: the second drain evicts or waits for it
		}
		ns, name, _ := strings.Cut(bl.Pod, "/")
		pod, err := u.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if v := localData(pod); v != "" && !u.AllowLocalData {
			kept = append(kept, fmt.Sprintf("%s (emptyDir %s)", bl.Pod, v))
			continue
		}
		u.emit("Escalate", []string{node}, "deleting pod %s on %s after %s: PodDisruptionBudget %s never allowed its eviction (undrainable.then DeletePod)", bl.Pod, node, after, strings.Join(bl.PDBs, ", "))
		if err := u.Client.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("deleting pod %s: %w", bl.Pod, err)
		}
	}
	if len(kept) > 0 {
		return nil, &escalationError{fmt.Sprintf("undrainable.then DeletePod did not delete %s: pods with local data are deleted only with undrainable.allowLocalData", strings.Join(kept, ", "))}
	}
	return u.drainNode(ctx, b, node, u.DrainTimeout)
}

// localData names a pod's emptyDir volume, whose data a delete loses, or
// "".
func localData(pod *corev1.Pod) string {
	for _, v := range pod.Spec.Volumes {
		if v.EmptyDir != nil {
			return v.Name
		}
	}
	return ""
}

// escalationError is why an escalation could not finish a drain.
type escalationError struct{ msg string }

func (e *escalationError) Error() string { return e.msg }
