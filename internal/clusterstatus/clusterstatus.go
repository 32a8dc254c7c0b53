package clusterstatus

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/providers/fleetmember"
)

// Observe fills a fleet cluster's status as its provider sees it now:
// version, node pools, and the Reachable condition, which is false with
// the reason when the provider cannot read the cluster or the cluster's
// own API server refuses upshift.
func Observe(ctx context.Context, resolve fleetmember.Resolver, c *v1alpha1.Cluster) {
	cond := metav1.Condition{Type: v1alpha1.ConditionReachable, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonObserved, Message: "read by upshift"}
	if err := observe(ctx, resolve, c); err != nil {
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, v1alpha1.ReasonUnreachable, err.Error()
	}
	meta.SetStatusCondition(&c.Status.Conditions, cond)
}

func observe(ctx context.Context, resolve fleetmember.Resolver, c *v1alpha1.Cluster) error {
	m, err := resolve(*c)
	if err != nil {
		return err
	}
	got, err := m.Provider.Get(ctx, m.Name)
	if err != nil {
		return err
	}
	c.Status.KubernetesVersion = got.KubernetesVersion
	c.Status.NodePools = nil
	for _, np := range got.NodePools {
		c.Status.NodePools = append(c.Status.NodePools, v1alpha1.NodePoolStatus{Name: np.Name, Count: np.Count, KubernetesVersion: np.KubernetesVersion, NodeImage: np.NodeImage})
	}
	if m.RESTConfig == nil {
		return nil
	}
	return answersUpshift(ctx, m.RESTConfig)
}

// answersUpshift checks that the cluster's own API server takes upshift's
// credentials (the provider's platform may answer while the kubeconfig
// is wrong, and every gate, scan and drain needs the API).
func answersUpshift(ctx context.Context, cfg *rest.Config) error {
	cfg = rest.CopyConfig(cfg)
	cfg.Timeout = 10 * time.Second
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return err
	}
	if err := dc.RESTClient().Get().AbsPath("/version").Do(ctx).Error(); err != nil {
		if apierrors.IsUnauthorized(err) || apierrors.IsForbidden(err) {
			return fmt.Errorf("its API server refuses upshift's credentials (spec.kubeconfig, spec.context): %w", err)
		}
		return fmt.Errorf("its API server: %w", err)
	}
	return nil
}
