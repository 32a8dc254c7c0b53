package aks_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/azureemu"
	"upshift.dev/upshift/internal/providers/cluster/aks"
	"upshift.dev/upshift/internal/transient"
)

// managedClusterExample is ManagedClustersGet.json's answer at
// api-version 2025-02-01 (Azure/azure-rest-api-specs@cfc781db,
// specification/containerservice/resource-manager/Microsoft.ContainerService/aks/stable/2025-02-01/examples),
// trimmed to the properties the provider reads, its state a parameter.
const managedClusterExample = `{
  "id": "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/rg1/providers/Microsoft.ContainerService/managedClusters/clustername1",
  "location": "location1",
  "name": "clustername1",
  "type": "Microsoft.ContainerService/ManagedClusters",
  "eTag": "beywbwei",
  "properties": {
    "provisioningState": "STATE",
    "maxAgentPools": 1,
    "kubernetesVersion": "1.9.6",
    "currentKubernetesVersion": "1.9.6",
    "dnsPrefix": "dnsprefix1",
    "fqdn": "dnsprefix1-abcd1234.hcp.eastus.azmk8s.io",
    "agentPoolProfiles": [{"name": "nodepool1", "count": 3, "vmSize": "Standard_DS1_v2", "maxPods": 110, "osType": "Linux", "provisioningState": "STATE",
      "orchestratorVersion": "1.9.6", "currentOrchestratorVersion": "1.9.6", "nodeImageVersion": "AKSUbuntu:1604:2020.03.11", "upgradeSettings": {"maxSurge": "33%"}}]
  }
}`

// TestRefusesAClusterAzureLeftBroken: a managed cluster whose last
// operation failed or was aborted, answered as Azure's example answers
// it, is not upgraded: the step fails at once, permanently, saying what
// to do, and nothing is sent to Azure but reads.
func TestRefusesAClusterAzureLeftBroken(t *testing.T) {
	for state, want := range map[string]string{
		"Failed":   "managed cluster rg1/clustername1 is Failed: its last operation failed in Azure. See why in its activity log (az monitor activity-log list -g rg1), bring it back with `az aks update -g rg1 -n clustername1`, then resume the run",
		"Canceled": "managed cluster rg1/clustername1 is Canceled: its last operation was aborted. Bring it back with `az aks update -g rg1 -n clustername1`, then resume the run",
	} {
		t.Run(state, func(t *testing.T) {
			var mu sync.Mutex
			var writes []string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodGet {
					mu.Lock()
					writes = append(writes, r.Method+" "+r.URL.Path)
					mu.Unlock()
				}
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(strings.ReplaceAll(managedClusterExample, "STATE", state)))
			}))
			defer srv.Close()
			p, err := aks.New(&v1alpha1.AKSCluster{SubscriptionID: azureemu.DefaultSubscription, ResourceGroup: "rg1", Name: "clustername1", ARMEndpoint: srv.URL})
			if err != nil {
				t.Fatal(err)
			}
			err = p.UpgradeControlPlane(t.Context(), "clustername1", "1.10.0")
			if err == nil || err.Error() != want || transient.Is(err) {
				t.Errorf("upgrading a %s cluster: %v (transient %v), want permanently %q", state, err, transient.Is(err), want)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(writes) > 0 {
				t.Errorf("requests beyond reads were sent to Azure: %v", writes)
			}
		})
	}
}
