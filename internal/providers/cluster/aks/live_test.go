package aks_test

import (
	"os"
	"testing"

	"k8s.io/client-go/kubernetes"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/kubeversion"
	"upshift.dev/upshift/internal/providers/cluster/aks"
	"upshift.dev/upshift/internal/providers/fleetmember"
)

// TestLiveAKS reads a real AKS cluster, when one is named:
//
//	AZURE_SUBSCRIPTION_ID, UPSHIFT_LIVE_AKS_RESOURCE_GROUP, UPSHIFT_LIVE_AKS_CLUSTER
//
// and credentials DefaultAzureCredential finds (AZURE_CLIENT_ID /
// AZURE_TENANT_ID / AZURE_CLIENT_SECRET, workload or managed identity, or
// `az login`). It only reads: the ManagedCluster, the versions of its
// region, its user credentials, and the API server's version through
// them. It changes nothing and costs nothing beyond the cluster you
// already run. Without the variables it is skipped.
func TestLiveAKS(t *testing.T) {
	sub, group, name := os.Getenv("AZURE_SUBSCRIPTION_ID"), os.Getenv("UPSHIFT_LIVE_AKS_RESOURCE_GROUP"), os.Getenv("UPSHIFT_LIVE_AKS_CLUSTER")
	if sub == "" || group == "" || name == "" {
		t.Skip("set AZURE_SUBSCRIPTION_ID, UPSHIFT_LIVE_AKS_RESOURCE_GROUP and UPSHIFT_LIVE_AKS_CLUSTER to read a real AKS cluster")
	}
	ctx := t.Context()
	resolve, err := aks.Open(fleetmember.Env{Home: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	m, err := resolve(v1alpha1.Cluster{Spec: v1alpha1.ClusterSpec{Provider: v1alpha1.ProviderAKS, AKS: &v1alpha1.AKSCluster{SubscriptionID: sub, ResourceGroup: group, Name: name}}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.Provider.Get(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	versions, err := m.Provider.Versions(ctx)
	if err != nil || len(versions) == 0 {
		t.Fatalf("versions: %v, %v", versions, err)
	}
	client, err := kubernetes.NewForConfig(m.RESTConfig)
	if err != nil {
		t.Fatal(err)
	}
	sv, err := client.Discovery().ServerVersion()
	if err != nil {
		t.Fatalf("the API server through the cluster's user credentials: %v", err)
	}
	azure, aerr := kubeversion.Parse(got.KubernetesVersion)
	server, serr := kubeversion.Parse(sv.GitVersion)
	if aerr != nil || serr != nil || azure.CompareMinor(server) != 0 {
		t.Errorf("Azure says %s, the API server says %s", got.KubernetesVersion, sv.GitVersion)
	}
	t.Logf("%s/%s: %s, pools %+v; region offers %v", group, name, got.KubernetesVersion, got.NodePools, versions)
}
