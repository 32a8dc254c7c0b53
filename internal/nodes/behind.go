package nodes

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Behind names the nodes of a pool (those selector finds) not yet at a
// target: a kubelet other than kubelet (when set), or a label of labels
// with another value. A cloud's record of a pool says what was asked of
// it; after an operation aborted or failed part-way, only the nodes say
// what runs.
func Behind(ctx context.Context, client kubernetes.Interface, selector, kubelet string, labels map[string]string) ([]string, error) {
	list, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, fmt.Errorf("listing the nodes %s: %w", selector, err)
	}
	var out []string
	for _, n := range list.Items {
		behind := kubelet != "" && n.Status.NodeInfo.KubeletVersion != kubelet
		for k, v := range labels {
			behind = behind || n.Labels[k] != v
		}
		if behind {
			out = append(out, n.Name)
		}
	}
	return out, nil
}
