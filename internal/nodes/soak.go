package nodes

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// workload is the controller of evicted pods whose recovery a soak waits
// for.
type workload struct {
	Kind, Namespace, Name string
}

func (w workload) String() string { return w.Kind + " " + w.Namespace + "/" + w.Name }

// workloadsOf are the ReplicaSets and StatefulSets that own the pods, once
// each.
func workloadsOf(pods []corev1.Pod) []workload {
	var out []workload
	for i := range pods {
		c := metav1.GetControllerOf(&pods[i])
		if c == nil || (c.Kind != "ReplicaSet" && c.Kind != "StatefulSet") {
			continue
		}
		w := workload{Kind: c.Kind, Namespace: pods[i].Namespace, Name: c.Name}
		if !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	return out
}

// soakPoll is how often a readiness soak looks at the workloads.
const soakPoll = 500 * time.Millisecond

// waitWorkloads waits until each workload has its desired replicas Ready
// (a workload that is gone, or scaled to zero, has), and says which have
// not after timeout.
func waitWorkloads(ctx context.Context, client kubernetes.Interface, ws []workload, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var short []string
		for _, w := range ws {
			ready, desired, err := readyOf(ctx, client, w)
			if err != nil {
				return err
			}
			if ready < desired {
				short = append(short, fmt.Sprintf("%s has %d of %d pods Ready", w, ready, desired))
			}
		}
		if len(short) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %s, %s: the evicted pods do not recover on the nodes left (describe their pods: Pending, crash-looping, failing probes)", timeout, strings.Join(short, "; "))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(soakPoll):
		}
	}
}

func readyOf(ctx context.Context, client kubernetes.Interface, w workload) (ready, desired int32, err error) {
	switch w.Kind {
	case "ReplicaSet":
		rs, err := client.AppsV1().ReplicaSets(w.Namespace).Get(ctx, w.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return 0, 0, nil
		}
		if err != nil {
			return 0, 0, err
		}
		return rs.Status.ReadyReplicas, ptrOr(rs.Spec.Replicas, 1), nil
	default:
		ss, err := client.AppsV1().StatefulSets(w.Namespace).Get(ctx, w.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return 0, 0, nil
		}
		if err != nil {
			return 0, 0, err
		}
		return ss.Status.ReadyReplicas, ptrOr(ss.Spec.Replicas, 1), nil
	}
}

func ptrOr(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}
