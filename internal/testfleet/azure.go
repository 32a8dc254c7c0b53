package testfleet

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"upshift.dev/upshift/internal/azurearm"
	"upshift.dev/upshift/internal/azureemu"
	"upshift.dev/upshift/internal/azurespec"
	"upshift.dev/upshift/internal/frontdoor"
	fd "upshift.dev/upshift/internal/providers/traffic/frontdoor"
	"upshift.dev/upshift/internal/providers/traffic/gateway"
)

// FrontDoorProfile creates a Standard Front Door profile in resource
// group of the Azure emulator at arm, as a user's own profile would be,
// through ARM's REST API.
func FrontDoorProfile(t testing.TB, arm, group, name string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, arm+"/subscriptions/"+azureemu.DefaultSubscription+"/resourceGroups/"+group+"/providers/Microsoft.Cdn/profiles/"+name+"?api-version="+fd.APIVersion,
		strings.NewReader(`{"location": "Global", "sku": {"name": "Standard_AzureFrontDoor"}}`))
	req.Header.Set("Authorization", "Bearer "+azurearm.EmulatorToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("creating Front Door profile %s: %v", name, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("creating Front Door profile %s: %s", name, resp.Status)
	}
}

// AzureEdge serves the Azure emulator, every request and answer held to
// Azure's published contract, with a real gateway (checking its backends'
// health every health) standing for what users go through: Traffic
// Manager's resolvers, Front Door's edge. It returns the emulator's and
// the gateway's URLs.
func AzureEdge(t testing.TB, token string, health time.Duration) (arm, front string) {
	t.Helper()
	cfg := frontdoor.Config{Listen: LoopbackAddr(t), AdminListen: LoopbackAddr(t), HealthInterval: frontdoor.Duration{Duration: health}}
	RunGateway(t, cfg, token)
	emu := azureemu.New(nil, "")
	emu.Gateway = gateway.New("http://"+cfg.AdminListen, token)
	srv := httptest.NewServer(azurespec.Hold(t, emu))
	t.Cleanup(srv.Close)
	return srv.URL, "http://" + cfg.Listen
}
