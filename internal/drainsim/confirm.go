package drainsim

import (
	"context"
	"strings"

	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/kubernetes"
)

// Confirm asks the API server about the pods that matter most, with
// server-side dry-run evictions (nothing is evicted): the first eviction
// of each workload in the sequence, which happens with the cluster as it
// is now, and each blocker. A refused first eviction the replay did not
// predict becomes a blocker (the API server knows what a snapshot does
// not: a budget it cannot compute, an admission webhook); a blocker the
// API server refuses now is marked confirmed. It returns the number of
// dry runs sent.
func Confirm(ctx context.Context, client kubernetes.Interface, res *Result) (int, error) {
	blocked := sets.New[string]()
	for _, f := range res.Blockers {
		blocked.Insert(f.Pod)
	}
	sent := 0
	for i := range res.Blockers {
		msg, err := dryRunEvict(ctx, client, res.Blockers[i].Pod)
		if err != nil {
			return sent, err
		}
		sent++
		res.Blockers[i].Confirmed = msg
	}
	for _, f := range res.firsts {
		if blocked.Has(f.Pod) {
			continue
		}
		msg, err := dryRunEvict(ctx, client, f.Pod)
		if err != nil {
			return sent, err
		}
		sent++
		if msg == "" {
			continue
		}
		f.Reason = "the API server refuses its eviction now: " + msg
		f.Fix = "see why the API server refuses it (kubectl drain --dry-run=server on node " + f.Node + " shows the same)"
		f.Confirmed = msg
		res.Blockers = append(res.Blockers, f)
	}
	return sent, nil
}

// dryRunEvict is the API server's refusal of the pod's eviction, or ""
// when it would evict it; err is for what is not an answer about the pod.
func dryRunEvict(ctx context.Context, client kubernetes.Interface, pod string) (string, error) {
	ns, name, _ := strings.Cut(pod, "/")
	err := client.PolicyV1().Evictions(ns).Evict(ctx, &policyv1.Eviction{
		ObjectMeta:    metav1.ObjectMeta{Namespace: ns, Name: name},
		DeleteOptions: &metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}},
	})
	switch {
	case err == nil, apierrors.IsNotFound(err):
		return "", nil
	case apierrors.IsTooManyRequests(err), apierrors.IsInternalError(err), apierrors.IsForbidden(err):
		return err.Error(), nil
	}
	return "", err
}
