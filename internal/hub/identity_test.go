package hub_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/azureemu"
	"upshift.dev/upshift/internal/azurespec"
	"upshift.dev/upshift/internal/hubstore"
	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/testfleet"
	"upshift.dev/upshift/internal/toolchain"
)

// TestHubWorkloadIdentity: a hub reaches Azure as AKS workload identity
// does. The hub's ServiceAccount token, issued by the hub cluster's own
// API server for Entra's audience, is the federated token file; the
// emulator's Entra ID (over TLS, with a test CA) checks it against a
// federated identity credential — the issuer's published keys, issuer,
// subject, audience — and issues an access token; ARM takes only that
// token. A run over an aks member completes with no other credential; a
// token for another ServiceAccount is refused with Entra's AADSTS code,
// and ARM refuses a bearer token Entra did not issue.
func TestHubWorkloadIdentity(t *testing.T) {
	kubeconfig, cfg, c := upHub(t, "wi-hub")
	testfleet.Up(t, localfleet.Spec{Name: "wi-aks", KubernetesVersion: toolchain.Latest().Minor})
	ctx := t.Context()
	cs := kubernetes.NewForConfigOrDie(cfg)

	// The issuer's keys, as Entra reads them: the API server's JWKS.
	raw, err := cs.RESTClient().Get().AbsPath("/openid/v1/jwks").DoRaw(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var jwks struct {
		Keys []struct{ Kty, Crv, X, Y string } `json:"keys"`
	}
	if err := json.Unmarshal(raw, &jwks); err != nil || len(jwks.Keys) == 0 || jwks.Keys[0].Kty != "EC" {
		t.Fatalf("the hub's JWKS: %v\n%s", err, raw)
	}
	coord := func(s string) []byte {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil || len(b) != 32 {
			t.Fatalf("a P-256 coordinate of the JWKS: %v (%d bytes)", err, len(b))
		}
		return b
	}
	key, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, coord(jwks.Keys[0].X)...), coord(jwks.Keys[0].Y)...))
	if err != nil {
		t.Fatal(err)
	}

	const tenant, clientID = "72f988bf-86f1-41af-91ab-2d7cd011db47", "11111111-2222-3333-4444-555555555555"
	var disco struct {
		Issuer string `json:"issuer"`
	}
	raw, err = cs.RESTClient().Get().AbsPath("/.well-known/openid-configuration").DoRaw(ctx)
	if err != nil || json.Unmarshal(raw, &disco) != nil || disco.Issuer == "" {
		t.Fatalf("the hub's OpenID configuration: %v\n%s", err, raw)
	}
	entra := &azureemu.Entra{Tenant: tenant, Federations: []azureemu.Federation{{
		ClientID: clientID, Issuer: disco.Issuer, Subject: "system:serviceaccount:default:upshift", Keys: []crypto.PublicKey{key}}}}
	emu := azureemu.New(testfleet.Fleet(t), "")
	emu.Entra = entra
	emuLog := &testfleet.SyncBuffer{}
	emu.Log = emuLog
	arm := httptest.NewServer(azurespec.Hold(t, emu))
	login := httptest.NewTLSServer(entra)
	t.Cleanup(func() { login.Close(); arm.Close(); emu.Close() })
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: login.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}

	// What the workload identity webhook projects into the hub's pod.
	federated := func(sa string) string {
		if _, err := cs.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		tr, err := cs.CoreV1().ServiceAccounts("default").CreateToken(ctx, sa, &authenticationv1.TokenRequest{
			Spec: authenticationv1.TokenRequestSpec{Audiences: []string{azureemu.FederatedAudience}}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return tr.Status.Token
	}
	tokenFile := filepath.Join(dir, "azure-identity-token")
	if err := os.WriteFile(tokenFile, []byte(federated("upshift")), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"AZURE_TENANT_ID=" + tenant, "AZURE_CLIENT_ID=" + clientID, "AZURE_FEDERATED_TOKEN_FILE=" + tokenFile,
		"AZURE_AUTHORITY_HOST=" + login.URL + "/", "SSL_CERT_FILE=" + caFile,
		// Nothing else to sign in with.
		"AZURE_CLIENT_SECRET=", "AZURE_USERNAME=", "AZURE_CONFIG_DIR=" + filepath.Join(dir, "no-az-cli")}
	replicas := []*replica{startReplicaEnv(t, env, kubeconfig, "replica-a")}

	if err := c.Create(ctx, &v1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "wi-aks", Namespace: "default"},
		Spec: v1alpha1.ClusterSpec{Provider: v1alpha1.ProviderAKS, Group: "all",
			AKS: &v1alpha1.AKSCluster{SubscriptionID: azureemu.DefaultSubscription, ResourceGroup: azureemu.AdoptGroup, Name: "wi-aks", ARMEndpoint: arm.URL}}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, &v1alpha1.UpdateRun{ObjectMeta: metav1.ObjectMeta{Name: "through-entra", Namespace: "default"},
		Spec: v1alpha1.UpdateRunSpec{Upgrade: v1alpha1.UpgradeSpec{Type: v1alpha1.UpgradeControlPlaneOnly, KubernetesVersion: toolchain.Latest().Minor},
			Strategy: &v1alpha1.UpdateStrategySpec{Stages: []v1alpha1.StageSpec{{Name: "all", Groups: []v1alpha1.GroupRef{{Name: "all"}}}}}}}); err != nil {
		t.Fatal(err)
	}
	st := &hubstore.Store{Client: c, Namespace: "default"}
	waitCompleted(t, st, replicas, "through-entra")
	issued, refused := entra.Counts()
	if issued == 0 || refused != 0 {
		t.Errorf("Entra issued %d token(s) and refused %d assertion(s), want the hub's exchanged and none refused", issued, refused)
	}
	if strings.Contains(emuLog.String(), "refused") || !strings.Contains(emuLog.String(), "GET /subscriptions/") {
		t.Errorf("ARM did not serve the run with Entra's token alone:\n%s", emuLog.String())
	}

	// Another ServiceAccount's token is not the federated credential's.
	resp, err := login.Client().PostForm(login.URL+"/"+tenant+"/oauth2/v2.0/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {clientID}, "scope": {"https://management.azure.com//.default"},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {federated("intruder")}})
	if err != nil {
		t.Fatal(err)
	}
	var answer struct {
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&answer)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(answer.ErrorDescription, "AADSTS700213") || !strings.Contains(answer.ErrorDescription, "system:serviceaccount:default:intruder") {
		t.Errorf("another ServiceAccount's token: %s %+v, want 401 AADSTS700213", resp.Status, answer)
	}
	req, _ := http.NewRequest(http.MethodGet, arm.URL+"/subscriptions/"+azureemu.DefaultSubscription+"/resourceGroups/"+azureemu.AdoptGroup+"/providers/Microsoft.ContainerService/managedClusters/wi-aks?api-version="+azureemu.APIVersion, nil)
	req.Header.Set("Authorization", "Bearer "+federated("not-entra"))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("x-ms-error-code") != "InvalidAuthenticationToken" {
		t.Errorf("ARM with a token Entra did not issue: %s %s", resp.Status, resp.Header.Get("x-ms-error-code"))
	}
}
