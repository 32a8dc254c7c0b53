package hub_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/hubstore"
	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/pki"
	"upshift.dev/upshift/internal/testfleet"
	"upshift.dev/upshift/internal/toolchain"
)

// TestHubDashboardAcrossReplicas: two hub replicas serve the dashboard
// over HTTPS with one session key, and people sign in with their own
// Kubernetes tokens. In a real Chromium, bob signs in on replica A and
// is refused Approve on replica B (RBAC lets him read runs, not approve),
// nothing changed; alice signs in on A, approves on B, and the run goes
// on; the ApprovalRequest and the audit trail name the user the API
// server named. A token the API server does not accept, and a user who
// may not read runs, are not signed in.
func TestHubDashboardAcrossReplicas(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("Chromium is not installed: run `make deps` (apt-get install chromium)")
	}
	kubeconfig, cfg, c := upHub(t, "dash-hub")
	testfleet.Up(t, localfleet.Spec{Name: "dash-hub-member", KubernetesVersion: toolchain.Latest().Minor})
	ctx := t.Context()
	cs := kubernetes.NewForConfigOrDie(cfg)

	// Who is who: alice reads runs and approves, bob reads runs only,
	// carl has no rights here.
	roles := map[string][]rbacv1.PolicyRule{
		"reader":   {{APIGroups: []string{"upshift.dev"}, Resources: []string{"updateruns"}, Verbs: []string{"get", "list", "watch"}}},
		"approver": {{APIGroups: []string{"upshift.dev"}, Resources: []string{"approvalrequests/status"}, Verbs: []string{"update"}}},
	}
	for name, rules := range roles {
		if _, err := cs.RbacV1().Roles("default").Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	token := map[string]string{}
	for user, bound := range map[string][]string{"alice": {"reader", "approver"}, "bob": {"reader"}, "carl": nil} {
		if _, err := cs.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: user}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		for _, role := range bound {
			if _, err := cs.RbacV1().RoleBindings("default").Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: user + "-" + role},
				RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role},
				Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: user, Namespace: "default"}}}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		tr, err := cs.CoreV1().ServiceAccounts("default").CreateToken(ctx, user, &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		token[user] = tr.Status.Token
	}

	// One session key and one certificate for both replicas.
	dir := t.TempDir()
	ca, err := pki.NewCA("dashboard test CA")
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.Issue(pki.Request{CommonName: "upshift-dashboard", IPs: []net.IP{net.ParseIP("127.0.0.1")}, Server: true})
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"tls.crt": certPEM, "tls.key": keyPEM, "session.key": []byte("0123456789abcdef0123456789abcdef-shared-by-replicas\n")}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	addrA, addrB := testfleet.LoopbackAddr(t), testfleet.LoopbackAddr(t)
	dashFlags := func(addr string) []string {
		return []string{"--dashboard-listen", addr, "--dashboard-auth", "kubernetes", "--dashboard-session-key-file", filepath.Join(dir, "session.key"),
			"--dashboard-tls-cert-file", filepath.Join(dir, "tls.crt"), "--dashboard-tls-key-file", filepath.Join(dir, "tls.key")}
	}
	replicas := []*replica{startReplica(t, kubeconfig, "replica-a", dashFlags(addrA)...), startReplica(t, kubeconfig, "replica-b", dashFlags(addrB)...)}
	a, b := "https://"+addrA, "https://"+addrB
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.CertPEM)
	httpc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, base := range []string{a, b} {
		waitFor(t, "the dashboard at "+base, replicas, func() bool {
			resp, err := httpc.Get(base + "/healthz")
			if err == nil {
				resp.Body.Close()
			}
			return err == nil && resp.StatusCode == http.StatusOK
		})
	}

	if err := c.Create(ctx, &v1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "dash-hub-member", Namespace: "default"},
		Spec: v1alpha1.ClusterSpec{Provider: v1alpha1.ProviderLocal, Local: &v1alpha1.LocalClusterRef{Name: "dash-hub-member"}, Group: "all"}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, &v1alpha1.UpdateRun{ObjectMeta: metav1.ObjectMeta{Name: "gated", Namespace: "default"},
		Spec: v1alpha1.UpdateRunSpec{Upgrade: v1alpha1.UpgradeSpec{Type: v1alpha1.UpgradeControlPlaneOnly, KubernetesVersion: toolchain.Latest().Minor},
			Strategy: &v1alpha1.UpdateStrategySpec{Stages: []v1alpha1.StageSpec{{Name: "all", Groups: []v1alpha1.GroupRef{{Name: "all"}},
				BeforeStageTasks: []v1alpha1.StageTask{{Type: v1alpha1.TaskApproval, Name: "go"}}}}}}}); err != nil {
		t.Fatal(err)
	}
	st := &hubstore.Store{Client: c, Namespace: "default"}
	waitFor(t, "the run to wait for its approval", replicas, func() bool {
		r, err := st.Get("gated")
		return err == nil && len(r.Status.Stages) == 1 && len(r.Status.Stages[0].BeforeTasks) == 1 && r.Status.Stages[0].BeforeTasks[0].Phase == v1alpha1.PhaseWaiting
	})

	// Without a browser: a token the API server refuses, and a user who
	// may not read runs, get no session; a bearer client without the
	// right to approve is refused.
	login := func(base, tok string) *http.Response {
		resp, err := httpc.PostForm(base+"/login", url.Values{"token": {tok}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := login(a, "not-a-token-the-api-server-knows"); resp.StatusCode != http.StatusUnauthorized || len(resp.Cookies()) != 0 {
		t.Errorf("sign-in with a made-up token: %s, cookies %v", resp.Status, resp.Cookies())
	}
	if resp := login(a, token["carl"]); resp.StatusCode != http.StatusForbidden || len(resp.Cookies()) != 0 {
		t.Errorf("sign-in of a user who may not list runs: %s, cookies %v", resp.Status, resp.Cookies())
	}
	req, _ := http.NewRequest(http.MethodPost, b+"/runs/gated/approve", strings.NewReader(url.Values{"stage": {"all"}, "task": {"go"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+token["bob"])
	resp, err := httpc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("bob approving with his bearer token: %s, want 403", resp.Status)
	}

	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("ignore-certificate-errors", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900))...)
	defer cancelAlloc()
	browser, cancel := chromedp.NewContext(alloc)
	defer cancel()
	if err := chromedp.Do(browser); err != nil {
		t.Fatal(err)
	}
	bctx, cancelTimeout := context.WithTimeout(browser, 4*time.Minute)
	defer cancelTimeout()
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, steps...); err != nil {
			t.Fatalf("%s: %v\n%s\n----\n%s", what, err, replicas[0].output(), replicas[1].output())
		}
	}
	text := func(css string) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(css)))
		if err != nil {
			t.Fatalf("read %s: %v", css, err)
		}
		return s
	}
	signIn := func(user string) {
		t.Helper()
		if _, err := chromedp.Call(bctx, network.ClearBrowserCookies, cdp.Empty{}); err != nil {
			t.Fatal(err)
		}
		do("sign "+user+" in on replica A",
			chromedp.Navigate(a+"/login"),
			chromedp.WaitVisible(chromedp.ID("token")),
			chromedp.SendKeys(chromedp.ID("token"), token[user]),
			chromedp.Submit(chromedp.ID("token")),
			chromedp.WaitVisible(chromedp.CSS(`a[href="/runs/gated"]`)))
		if n, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll("#name").length`)); err != nil || n != 0 {
			t.Errorf("the sign-in form asks for a name (%d, %v): the API server names the user", n, err)
		}
	}

	// The page swaps in live fragments: a click can find its button
	// replaced between finding and clicking it, so it is tried again.
	approve := func(who string) {
		t.Helper()
		var err error
		for try := 0; try < 5; try++ {
			if err = chromedp.Do(bctx, chromedp.WaitVisible(chromedp.ID("approve-all-go")), chromedp.Click(chromedp.ID("approve-all-go"))); err == nil {
				return
			}
		}
		t.Fatalf("%s clicks Approve: %v", who, err)
	}
	signIn("bob")
	do("bob opens the run on replica B", chromedp.Navigate(b+"/runs/gated"))
	approve("bob")
	do("bob's click is answered", chromedp.WaitNotPresent(chromedp.ID("approve-all-go")))
	if body := text("body"); !strings.Contains(body, "system:serviceaccount:default:bob may not approve") || !strings.Contains(body, "nothing was changed") {
		t.Errorf("bob's Approve on replica B says:\n%s", body)
	}
	if r, _ := st.Get("gated"); r.Status.Stages[0].BeforeTasks[0].Phase != v1alpha1.PhaseWaiting {
		t.Fatalf("after bob's refused click the approval is %s, want Waiting", r.Status.Stages[0].BeforeTasks[0].Phase)
	}

	signIn("alice")
	do("alice opens the run on replica B", chromedp.Navigate(b+"/runs/gated"))
	approve("alice")
	do("the run completes on replica B's page", chromedp.WaitVisible(chromedp.CSS(`#run-phase.completed`)))
	const alice = "system:serviceaccount:default:alice"
	if tree := text("#main"); !strings.Contains(tree, "approved by "+alice) {
		t.Errorf("the run page does not say alice approved:\n%s", tree)
	}
	ar := &v1alpha1.ApprovalRequest{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "default", Name: hubstore.RequestName("gated", "stage/all/go")}, ar); err != nil {
		t.Fatal(err)
	}
	if ar.Status.ApprovedBy != alice {
		t.Errorf("the ApprovalRequest was approved by %q, want %q", ar.Status.ApprovedBy, alice)
	}
	events, _ := st.Events("gated")
	var audited bool
	for _, ev := range events {
		audited = audited || ev.Type == "Approved" && strings.Contains(ev.Message, alice+" (dashboard)")
	}
	if !audited {
		t.Errorf("the audit trail does not name %s: %+v", alice, events)
	}
	// Open pages read the replicas' watch caches: five live pages cost
	// the API server no more reads of runs than none do.
	reads := func() float64 {
		raw, err := cs.RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
		if err != nil {
			t.Fatal(err)
		}
		m := testfleet.ParseMetrics(t, raw, "the hub's API server")
		return m.Sum("apiserver_request_total", map[string]string{"resource": "updateruns", "verb": "GET"}) +
			m.Sum("apiserver_request_total", map[string]string{"resource": "updateruns", "verb": "LIST"})
	}
	const window = 5 * time.Second
	before := reads()
	time.Sleep(window)
	idle := reads() - before
	resp = login(a, token["alice"])
	streams, cancelStreams := context.WithCancel(ctx)
	for i := range 5 {
		base, path := a, "/runs/gated/events"
		if i%2 == 1 {
			base, path = b, "/events"
		}
		req, _ := http.NewRequestWithContext(streams, http.MethodGet, base+path, nil)
		for _, ck := range resp.Cookies() {
			req.AddCookie(ck)
		}
		stream, err := httpc.Do(req)
		if err != nil || stream.StatusCode != http.StatusOK {
			t.Fatalf("live page %d: %v %v", i, err, stream)
		}
		defer stream.Body.Close()
	}
	start := reads()
	time.Sleep(window)
	open := reads() - start
	cancelStreams()
	if open > idle+3 {
		t.Errorf("with five live pages the API server served %.0f reads of runs in %s, with none %.0f: the pages should read the watch cache", open, window, idle)
	}
	t.Logf("reads of runs in %s: %.0f with five live pages, %.0f with none", window, open, idle)

	for _, r := range replicas {
		for user, tok := range token {
			if strings.Contains(r.output(), tok) {
				t.Errorf("%s's token reached a replica's log", user)
			}
		}
	}
}
