package testfleet

import (
	"net/http"
	"strings"
	"testing"

	"upshift.dev/upshift/internal/azurearm"
	"upshift.dev/upshift/internal/azureemu"
	fd "upshift.dev/upshift/internal/providers/traffic/frontdoor"
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
