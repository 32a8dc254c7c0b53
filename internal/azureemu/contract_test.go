package azureemu_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"upshift.dev/upshift/internal/azureemu"
	"upshift.dev/upshift/internal/azurespec"
	"upshift.dev/upshift/internal/builtin"
	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/testfleet"
	"upshift.dev/upshift/internal/toolchain"
)

func TestMain(m *testing.M) {
	builtin.Register()
	testfleet.Main(m)
}

// TestEmulatorAnswersAsPublished sends each read operation of Azure's
// published AKS contract (internal/azurespec's facts), and a node-image
// upgrade, to the emulator over a real local cluster, and holds each
// answer to the facts: its status among the operation's, the headers a
// long-running answer carries, the resource type, every required
// property present, enum values among the spec's, and no field the Go
// SDK's model (generated from the spec) does not know.
func TestEmulatorAnswersAsPublished(t *testing.T) {
	c, err := azurespec.Load("aks-2025-02-01")
	if err != nil {
		t.Fatal(err)
	}
	if c.APIVersion != azureemu.APIVersion {
		t.Fatalf("the contract is of api-version %s, the emulator serves %s: read the facts again from the spec of the version served", c.APIVersion, azureemu.APIVersion)
	}
	testfleet.Up(t, localfleet.Spec{Name: "contract", KubernetesVersion: toolchain.Previous().Minor, NodePools: []localfleet.PoolSpec{{Name: "user", Count: 1}}})
	emu := azureemu.New(testfleet.Fleet(t), "")
	check := azurespec.Hold(t, emu)
	srv := httptest.NewServer(check)
	t.Cleanup(func() { srv.Close(); emu.Close() })
	params := strings.NewReplacer("{subscriptionId}", azureemu.DefaultSubscription, "{resourceGroupName}", azureemu.AdoptGroup,
		"{resourceName}", "contract", "{agentPoolName}", "user", "{location}", azureemu.Location)

	for _, op := range c.Operations {
		if op.Method != http.MethodGet && op.OperationID != "AgentPools_UpgradeNodeImageVersion" || strings.Contains(params.Replace(op.Path), "{") {
			continue
		}
		t.Run(op.OperationID, func(t *testing.T) {
			req, _ := http.NewRequest(op.Method, srv.URL+params.Replace(op.Path)+"?api-version="+url.QueryEscape(c.APIVersion), nil)
			req.Header.Set("Authorization", "Bearer "+"contract-test")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if !slices.Contains(op.Statuses, resp.StatusCode) {
				t.Errorf("status %d, the spec gives %v (%s)", resp.StatusCode, op.Statuses, c.Source(&op))
			}
		})
	}
	if seen := check.Seen(); len(seen) < 8 {
		t.Errorf("operations checked: %v, want the 7 read ones and the node-image upgrade", seen)
	}
}
