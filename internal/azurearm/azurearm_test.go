package azurearm

import (
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
)

// TestCloudOf: a national cloud's ARM endpoint signs in at that cloud's
// Entra ID, not the public one; AZURE_AUTHORITY_HOST overrides.
func TestCloudOf(t *testing.T) {
	for _, tc := range []struct {
		endpoint, authority   string
		wantAuthority, wantRM string
	}{
		{"", "", cloud.AzurePublic.ActiveDirectoryAuthorityHost, "https://management.azure.com"},
		{"https://management.usgovcloudapi.net", "", cloud.AzureGovernment.ActiveDirectoryAuthorityHost, "https://management.usgovcloudapi.net"},
		{"https://management.chinacloudapi.cn/", "", cloud.AzureChina.ActiveDirectoryAuthorityHost, "https://management.chinacloudapi.cn"},
		{"http://127.0.0.1:7000/", "https://127.0.0.1:7001/", "https://127.0.0.1:7001/", "http://127.0.0.1:7000"},
	} {
		c := cloudOf(tc.endpoint, tc.authority)
		if c.ActiveDirectoryAuthorityHost != tc.wantAuthority {
			t.Errorf("%q: authority %q, want %q", tc.endpoint, c.ActiveDirectoryAuthorityHost, tc.wantAuthority)
		}
		if got := c.Services[cloud.ResourceManager].Endpoint; got != tc.wantRM {
			t.Errorf("%q: ARM endpoint %q, want %q", tc.endpoint, got, tc.wantRM)
		}
	}
	if cloud.AzurePublic.ActiveDirectoryAuthorityHost != "https://login.microsoftonline.com/" {
		t.Errorf("an override leaked into the SDK's public cloud: %q", cloud.AzurePublic.ActiveDirectoryAuthorityHost)
	}
}
