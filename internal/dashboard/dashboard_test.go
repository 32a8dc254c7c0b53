package dashboard_test

import (
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/dashboard"
	"upshift.dev/upshift/internal/store"
)

// TestActionsNeedTheToken checks the API side of the buttons over a real
// file store: a bearer token works without a CSRF token, a wrong one
// changes nothing, and a button that does not apply says why.
func TestActionsNeedTheToken(t *testing.T) {
	st := &store.Store{Dir: t.TempDir()}
	run := &v1alpha1.UpdateRun{TypeMeta: metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion, Kind: "UpdateRun"}, ObjectMeta: metav1.ObjectMeta{Name: "r1"},
		Spec: v1alpha1.UpdateRunSpec{Upgrade: v1alpha1.UpgradeSpec{Type: v1alpha1.UpgradeNodeImageOnly},
			Gates: v1alpha1.RunGates{Preflight: []v1alpha1.GateSpec{{Name: "change-ticket", Type: v1alpha1.GateApproval}}}}}
	if err := st.Create(run); err != nil {
		t.Fatal(err)
	}
	if err := st.SaveStatus("r1", &v1alpha1.UpdateRunStatus{Phase: v1alpha1.PhaseRunning, Stages: []v1alpha1.StageStatus{{Name: "prod", Phase: v1alpha1.PhaseRunning,
		BeforeTasks: []v1alpha1.TaskStatus{{Name: "go", Type: v1alpha1.TaskApproval, Phase: v1alpha1.PhaseWaiting}},
		Clusters:    []v1alpha1.StageClusterStatus{{Name: "c1", Phase: v1alpha1.PhaseRunning}}}}}); err != nil {
		t.Fatal(err)
	}
	const token = "0123456789abcdef0123"
	srv := httptest.NewServer((&dashboard.Server{Runs: st, Token: token, Where: "test"}).Handler())
	defer srv.Close()
	post := func(path, bearer string, form url.Values) int {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("/runs/r1/approve", "wrong-token-0000000000", url.Values{"stage": {"prod"}}); code != http.StatusUnauthorized {
		t.Errorf("approve with a wrong token: %d", code)
	}
	if code := post("/runs/r1/approve", "", url.Values{"stage": {"prod"}}); code != http.StatusUnauthorized {
		t.Errorf("approve with no credentials: %d", code)
	}
	if a, _ := st.Approvals("r1"); len(a) != 0 {
		t.Fatalf("refused requests recorded %v", a)
	}
	if code := post("/runs/r1/approve", token, url.Values{"stage": {"prdo"}}); code != http.StatusBadRequest {
		t.Errorf("approve of a stage that does not exist: %d", code)
	}
	if code := post("/runs/r1/rollback", token, nil); code != http.StatusBadRequest {
		t.Errorf("roll back an in-place run: %d", code)
	}
	if code := post("/runs/nope/stop", token, nil); code != http.StatusNotFound {
		t.Errorf("stop a run that does not exist: %d", code)
	}
	if code := post("/runs/r1/approve", token, url.Values{"cluster": {"c1"}, "gate": {"chnage-ticket"}}); code != http.StatusBadRequest {
		t.Errorf("approve of a cluster gate that does not exist: %d", code)
	}
	if code := post("/runs/r1/approve", token, url.Values{"stage": {"prod"}}); code != http.StatusNoContent {
		t.Errorf("approve with the bearer token: %d", code)
	}
	if code := post("/runs/r1/approve", token, url.Values{"cluster": {"c1"}, "gate": {"change-ticket"}}); code != http.StatusNoContent {
		t.Errorf("approve of a cluster's gate with the bearer token: %d", code)
	}
	if a, _ := st.Approvals("r1"); a["cluster/c1/change-ticket"].By != "api" {
		t.Errorf("approvals after the API approved c1's gate: %v", a)
	}
	if a, _ := st.Approvals("r1"); a["stage/prod"].By != "api" {
		t.Errorf("approvals after the API approved: %v", a)
	}
	if code := post("/runs/r1/stop", token, nil); code != http.StatusNoContent {
		t.Errorf("stop with the bearer token: %d", code)
	}
	if r, _ := st.Get("r1"); r.Spec.State != v1alpha1.StateStop {
		t.Errorf("state after stop: %q", r.Spec.State)
	}
	resp, err := http.Get(srv.URL + "/runs/r1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Request.URL.Path != "/login" || resp.Header.Get("Content-Security-Policy") == "" {
		t.Errorf("a page without a session: ended at %s, CSP %q", resp.Request.URL.Path, resp.Header.Get("Content-Security-Policy"))
	}
}

// TestSessionsAcrossReplicas: a session signed by one dashboard is taken
// by another with the same key (replicas behind one Service), with the
// same CSRF token; a dashboard with another key, a tampered cookie and
// a made-up one are sent to sign in.
func TestSessionsAcrossReplicas(t *testing.T) {
	st := &store.Store{Dir: t.TempDir()}
	run := &v1alpha1.UpdateRun{TypeMeta: metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion, Kind: "UpdateRun"}, ObjectMeta: metav1.ObjectMeta{Name: "r1"},
		Spec: v1alpha1.UpdateRunSpec{Upgrade: v1alpha1.UpgradeSpec{Type: v1alpha1.UpgradeNodeImageOnly},
			Gates: v1alpha1.RunGates{Preflight: []v1alpha1.GateSpec{{Name: "change-ticket", Type: v1alpha1.GateApproval}}}}}
	if err := st.Create(run); err != nil {
		t.Fatal(err)
	}
	if err := st.SaveStatus("r1", &v1alpha1.UpdateRunStatus{Phase: v1alpha1.PhaseRunning}); err != nil {
		t.Fatal(err)
	}
	const token = "0123456789abcdef0123"
	key := []byte("a-key-of-32-bytes-or-more-shared-by-replicas")
	serve := func(key []byte) *httptest.Server {
		srv := httptest.NewServer((&dashboard.Server{Runs: st, Token: token, SessionKey: key, Where: "test"}).Handler())
		t.Cleanup(srv.Close)
		return srv
	}
	a, b, other := serve(key), serve(key), serve([]byte("another-key-of-32-bytes-or-more-!!"))
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.PostForm(a.URL+"/login", url.Values{"name": {"carol"}, "token": {token}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "upshift_session" {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode {
		t.Fatalf("sign-in on A set %+v, want an HttpOnly, SameSite=Strict session cookie", resp.Cookies())
	}
	get := func(base string, c *http.Cookie) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, base+"/runs/r1", nil)
		req.AddCookie(c)
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	csrf := regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)
	codeA, pageA := get(a.URL, cookie)
	codeB, pageB := get(b.URL, cookie)
	if codeA != http.StatusOK || codeB != http.StatusOK || !strings.Contains(pageB, "signed in as <strong>carol</strong>") {
		t.Fatalf("the session on A: %d; on B: %d\n%s", codeA, codeB, pageB)
	}
	if ma, mb := csrf.FindStringSubmatch(pageA), csrf.FindStringSubmatch(pageB); ma == nil || mb == nil || ma[1] != mb[1] {
		t.Errorf("the CSRF tokens of one session differ between replicas: %v / %v", ma, mb)
	} else {
		// A form A rendered is taken by B.
		req, _ := http.NewRequest(http.MethodPost, b.URL+"/runs/r1/stop", strings.NewReader(url.Values{"csrf": {ma[1]}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(cookie)
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if r, _ := st.Get("r1"); resp.StatusCode != http.StatusSeeOther || r.Spec.State != v1alpha1.StateStop {
			t.Errorf("stop on B with A's form: %s, state %q", resp.Status, r.Spec.State)
		}
	}
	tampered := *cookie
	parts := strings.Split(tampered.Value, ".")
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte(`{"n":"mallory","s":"x","e":99999999999}`))
	tampered.Value = strings.Join(parts, ".")
	for what, c := range map[string]*http.Cookie{
		"A's session on a dashboard with another key": cookie,
		"a cookie naming someone else":                &tampered,
		"a made-up cookie":                            {Name: "upshift_session", Value: "v1.e30.AAAA"},
	} {
		base := b.URL
		if c == cookie {
			base = other.URL
		}
		if code, _ := get(base, c); code != http.StatusSeeOther {
			t.Errorf("%s: %d, want a redirect to sign in", what, code)
		}
	}
}
