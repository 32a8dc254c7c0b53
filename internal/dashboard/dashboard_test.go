package dashboard_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
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
		Spec: v1alpha1.UpdateRunSpec{Upgrade: v1alpha1.UpgradeSpec{Type: v1alpha1.UpgradeNodeImageOnly}}}
	if err := st.Create(run); err != nil {
		t.Fatal(err)
	}
	if err := st.SaveStatus("r1", &v1alpha1.UpdateRunStatus{Phase: v1alpha1.PhaseRunning, Stages: []v1alpha1.StageStatus{{Name: "prod", Phase: v1alpha1.PhaseRunning,
		BeforeTasks: []v1alpha1.TaskStatus{{Name: "go", Type: v1alpha1.TaskApproval, Phase: v1alpha1.PhaseWaiting}}}}}); err != nil {
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
	if code := post("/runs/r1/approve", token, url.Values{"stage": {"prod"}}); code != http.StatusNoContent {
		t.Errorf("approve with the bearer token: %d", code)
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
