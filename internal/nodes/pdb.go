package nodes

import (
	"context"
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
)

type pdbInfo struct {
	selector labels.Selector
	describe string
}

type labelSet = labels.Set

// listPDBs reads a namespace's budgets with a one-line account of each.
func listPDBs(ctx context.Context, client kubernetes.Interface, namespace string) ([]pdbInfo, error) {
	list, err := client.PolicyV1().PodDisruptionBudgets(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing PodDisruptionBudgets in %s: %w", namespace, err)
	}
	var out []pdbInfo
	for i := range list.Items {
		p := &list.Items[i]
		sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
		if err != nil || p.Spec.Selector == nil {
			continue
		}
		var rule []string
		if p.Spec.MinAvailable != nil {
			rule = append(rule, "minAvailable "+p.Spec.MinAvailable.String())
		}
		if p.Spec.MaxUnavailable != nil {
			rule = append(rule, "maxUnavailable "+p.Spec.MaxUnavailable.String())
		}
		desc := fmt.Sprintf("%s/%s (%s; %d of %d pods healthy, allows %d disruptions)",
			p.Namespace, p.Name, strings.Join(rule, ", "), p.Status.CurrentHealthy, p.Status.ExpectedPods, p.Status.DisruptionsAllowed)
		out = append(out, pdbInfo{selector: sel, describe: desc})
	}
	return out, nil
}
