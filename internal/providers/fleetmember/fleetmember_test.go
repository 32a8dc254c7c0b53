package fleetmember_test

import (
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/builtin"
	"upshift.dev/upshift/internal/providers/fleetmember"
)

// TestResolverByProviderName: a fleet cluster is resolved through the
// provider its spec names; an unknown provider gets a message that lists
// the registered ones; a registered one is reached (the local provider,
// here with no such local cluster; kubeconfig, with no such file).
func TestResolverByProviderName(t *testing.T) {
	builtin.Register()
	if kinds := strings.Join(fleetmember.Kinds(), " "); kinds != "aks exec kubeconfig local" {
		t.Fatalf("registered providers: %v", kinds)
	}
	resolve := fleetmember.NewResolver(fleetmember.Env{Home: t.TempDir()})
	_, err := resolve(v1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "east"}, Spec: v1alpha1.ClusterSpec{Provider: "gke"}})
	if err == nil || !strings.Contains(err.Error(), `spec.provider "gke": use one of aks, exec, kubeconfig, local`) {
		t.Errorf("unknown provider: %v", err)
	}
	missing := filepath.Join(t.TempDir(), "nope")
	_, err = resolve(v1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "east"}, Spec: v1alpha1.ClusterSpec{Provider: v1alpha1.ProviderKubeconfig, Kubeconfig: missing}})
	if err == nil || !strings.Contains(err.Error(), "loading kubeconfig") {
		t.Errorf("kubeconfig cluster with no kubeconfig: %v", err)
	}
	_, err = resolve(v1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "dev"}, Spec: v1alpha1.ClusterSpec{Provider: v1alpha1.ProviderLocal, Local: &v1alpha1.LocalClusterRef{Name: "dev"}}})
	if err == nil || !strings.Contains(err.Error(), `no such local cluster "dev"`) {
		t.Errorf("local cluster that does not exist: %v", err)
	}
	// A fleet entry is pointed at another cluster of its provider through
	// the field the provider registered: how green is reached.
	blue := v1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: map[string]string{"env": "prod"}},
		Spec: v1alpha1.ClusterSpec{Provider: v1alpha1.ProviderLocal, Local: &v1alpha1.LocalClusterRef{Name: "shop"}, Group: "g"}}
	green, err := fleetmember.Retarget(blue, "shop-g2")
	if err != nil || green.Spec.Local.Name != "shop-g2" || green.Name != "shop" || green.Labels["env"] != "prod" || green.Spec.Group != "g" || blue.Spec.Local.Name != "shop" {
		t.Errorf("Retarget: %+v, %v; want only spec.local.name changed, on a copy", green, err)
	}
	// An aks entry's kubeconfig and context reach blue's API server: green
	// is reached with the credentials AKS gives for it.
	aksBlue := v1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "shop"}, Spec: v1alpha1.ClusterSpec{Provider: v1alpha1.ProviderAKS,
		Kubeconfig: "/etc/fleet/shop.kubeconfig", Context: "shop-admin", KubeconfigSecretRef: &v1alpha1.SecretKeyRef{Name: "shop"},
		AKS: &v1alpha1.AKSCluster{SubscriptionID: "s", ResourceGroup: "rg", Name: "shop"}}}
	aksGreen, err := fleetmember.Retarget(aksBlue, "shop-g2")
	if err != nil || aksGreen.Spec.AKS.Name != "shop-g2" || aksGreen.Spec.Kubeconfig != "" || aksGreen.Spec.Context != "" || aksGreen.Spec.KubeconfigSecretRef != nil || aksBlue.Spec.Kubeconfig == "" {
		t.Errorf("Retarget of an aks cluster: %+v, %v; want spec.aks.name green's and blue's kubeconfig, context and Secret dropped, on a copy", aksGreen.Spec, err)
	}
	if _, err := fleetmember.Retarget(v1alpha1.Cluster{Spec: v1alpha1.ClusterSpec{Provider: v1alpha1.ProviderKubeconfig}}, "x"); err == nil {
		t.Error("a kubeconfig cluster was retargeted")
	}
	defer func() {
		if recover() == nil {
			t.Error("a second registration of local did not panic")
		}
	}()
	fleetmember.Register(v1alpha1.ProviderLocal, fleetmember.Kind{})
}
