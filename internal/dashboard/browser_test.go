package dashboard_test

import (
	"context"
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

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/builtin"
	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/store"
	"upshift.dev/upshift/internal/testfleet"
	"upshift.dev/upshift/internal/toolchain"
)

func TestMain(m *testing.M) {
	builtin.Register()
	testfleet.Main(m)
}

const dashFleet = `apiVersion: upshift.dev/v1alpha1
kind: Cluster
metadata: {name: dash-dev}
spec: {provider: local, local: {name: dash-dev}, group: dev}
---
apiVersion: upshift.dev/v1alpha1
kind: Cluster
metadata: {name: dash-prod}
spec: {provider: local, local: {name: dash-prod}, group: prod}
`

const dashRun = `apiVersion: upshift.dev/v1alpha1
kind: UpdateRun
metadata: {name: patch}
spec:
  strategy:
    stages:
    - name: dev
      groups: [{name: dev}]
      beforeStageTasks: [{type: Approval, name: go}]
    - name: prod
      groups: [{name: prod}]
      beforeStageTasks: [{type: Approval, name: release-manager}]
  upgrade: {type: NodeImageOnly, nodeImageSelection: {type: Latest}}
`

// artifacts is where screenshots are kept: $UPSHIFT_TEST_ARTIFACTS, else
// test-artifacts/ at the top of the checkout (ignored by git).
func artifacts(t *testing.T) string {
	dir := os.Getenv("UPSHIFT_TEST_ARTIFACTS")
	if dir == "" {
		dir = "../../test-artifacts"
	}
	dir = filepath.Join(dir, "dashboard")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestDashboardInChromium runs `upshift run` on two real clusters and
// `upshift dashboard` over the same home, and uses the dashboard in a real
// headless Chromium: sign-in, the tree updating while the run goes on, an
// approval that waits, a click whose session is gone refused with nothing
// changed, a form without its CSRF token refused, and Approve releasing the
// stage. Screenshots (desktop and phone) are kept.
func TestDashboardInChromium(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("Chromium is not installed: run `make deps` (apt-get install chromium)")
	}
	for _, name := range []string{"dash-dev", "dash-prod"} {
		testfleet.Up(t, localfleet.Spec{Name: name, KubernetesVersion: toolchain.Latest().Minor, NodePools: []localfleet.PoolSpec{{Name: "user", Count: 3}}})
	}
	home := testfleet.Fleet(t).Home
	dir := t.TempDir()
	for name, data := range map[string]string{"fleet.yaml": dashFleet, "run.yaml": dashRun} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	const token = "dashboard-test-token-0123456789"
	addr := testfleet.LoopbackAddr(t)
	dash := testfleet.CLI("dashboard", "--listen", addr)
	dash.Env = append(dash.Env, "UPSHIFT_DASHBOARD_TOKEN="+token)
	var dashOut testfleet.SyncBuffer
	dash.Stdout, dash.Stderr = &dashOut, &dashOut
	if err := dash.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dash.Process.Kill(); _ = dash.Wait() })
	base := "http://" + addr
	waitUntil(t, "the dashboard to serve", 30*time.Second, func() bool {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == http.StatusOK
	})

	run := testfleet.CLI("run", "-f", filepath.Join(dir, "run.yaml"), "--fleet", filepath.Join(dir, "fleet.yaml"))
	var runOut testfleet.SyncBuffer
	run.Stdout, run.Stderr = &runOut, &runOut
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = run.Process.Kill() })
	st := &store.Store{Dir: home}
	waitUntil(t, "the run to be planned", time.Minute, func() bool {
		r, err := st.Get("patch")
		return err == nil && len(r.Status.Stages) == 2
	})

	alloc, cancelAlloc := chromedp.NewExecAllocator(t.Context(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900))...)
	defer cancelAlloc()
	browser, cancel := chromedp.NewContext(alloc)
	defer cancel()
	// The browser lives as long as the context of its first call: start
	// it without a timeout, then bound the steps.
	if err := chromedp.Do(browser); err != nil {
		t.Fatal(err)
	}
	ctx, cancelTimeout := context.WithTimeout(browser, 4*time.Minute)
	defer cancelTimeout()
	fail := func(what string, err error) {
		t.Helper()
		t.Fatalf("%s: %v\nrun:\n%s\ndashboard:\n%s", what, err, runOut.String(), dashOut.String())
	}
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			fail(what, err)
		}
	}
	// click clicks a button of a live part of the page: an update that
	// arrives between finding the button and clicking it replaces the
	// node (Chromium: "Could not find node with given id"), so the click
	// is tried again on the new one.
	click := func(what, id string) {
		t.Helper()
		var err error
		for range 5 {
			if err = chromedp.Do(ctx, chromedp.WaitVisible(chromedp.ID(id)), chromedp.Click(chromedp.ID(id))); err == nil || !strings.Contains(err.Error(), "Could not find node") {
				break
			}
		}
		if err != nil {
			fail(what, err)
		}
	}
	text := func(what, css string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(css)))
		if err != nil {
			fail(what, err)
		}
		return s
	}
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			fail("screenshot", err)
		}
		writeShot(t, name, png)
	}
	signIn := func() {
		do("sign in",
			chromedp.Navigate(base+"/"),
			chromedp.WaitVisible(chromedp.ID("token")),
			chromedp.SendKeys(chromedp.ID("name"), "carol"),
			chromedp.SendKeys(chromedp.ID("token"), token),
			chromedp.Submit(chromedp.ID("token")),
			chromedp.WaitVisible(chromedp.CSS(`a[href="/runs/patch"]`)))
	}

	// Unauthenticated: the pages send the browser to sign in.
	do("open without a session", chromedp.Navigate(base+"/runs/patch"), chromedp.WaitVisible(chromedp.ID("token")))
	if loc, err := chromedp.Run(ctx, chromedp.Location()); err != nil || !strings.HasSuffix(loc, "/login") {
		t.Errorf("without a session the run page went to %s, want /login", loc)
	}
	signIn()

	// The run page follows the run without a reload: dev is approved from
	// a terminal, and the open page shows dev done and prod waiting.
	do("open the run", chromedp.Navigate(base+"/runs/patch"), chromedp.WaitVisible(chromedp.ID("approve-dev-go")))
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[int](`window.loadedOnce = 42`)); err != nil {
		fail("mark the page", err)
	}
	if out, err := testfleet.CLI("approve", "patch", "--stage", "dev", "--by", "ci").CombinedOutput(); err != nil {
		t.Fatalf("upshift approve: %v\n%s", err, out)
	}
	do("the dev stage completes on the page", chromedp.WaitVisible(chromedp.CSS(`#stage-dev > .phase.completed`)))
	do("prod waits for its approval", chromedp.WaitVisible(chromedp.ID("approve-prod-release-manager")))
	if mark, err := chromedp.Run(ctx, chromedp.Evaluate[int](`window.loadedOnce || 0`)); err != nil || mark != 42 {
		t.Errorf("the page was reloaded to show the change (%d, %v): it should update live", mark, err)
	}
	shot("run-waiting-desktop.png")

	// A form without the session's CSRF token is refused, even with the
	// session's cookie.
	got, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{})
	if err != nil {
		fail("read the session cookie", err)
	}
	cookies := got.Cookies
	req, _ := http.NewRequest(http.MethodPost, base+"/runs/patch/approve", strings.NewReader(url.Values{"stage": {"prod"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, c := range cookies {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("an approval without the CSRF token: %s, want 403", resp.Status)
	}

	// A click after the session is gone is refused and changes nothing.
	if _, err := chromedp.Call(ctx, network.ClearBrowserCookies, cdp.Empty{}); err != nil {
		fail("sign out", err)
	}
	click("click Approve signed out", "approve-prod-release-manager")
	do("the refusal shows", chromedp.WaitVisible(chromedp.CSS(`[role=alert]`)))
	if refused := text("the refusal", `[role=alert]`); !strings.Contains(refused, "nothing was changed") {
		t.Errorf("a signed-out click says %q", refused)
	}
	if r, _ := st.Get("patch"); r.Status.Stages[1].BeforeTasks[0].Phase != v1alpha1.PhaseWaiting {
		t.Fatalf("after refused clicks the approval is %s, want Waiting", r.Status.Stages[1].BeforeTasks[0].Phase)
	}
	if approvals, _ := st.Approvals("patch"); len(approvals) != 1 {
		t.Fatalf("refused clicks recorded approvals: %v", approvals)
	}

	// Approve from the page: prod goes on, and the page shows it.
	signIn()
	do("open the run", chromedp.Navigate(base+"/runs/patch"))
	click("approve prod", "approve-prod-release-manager")
	do("the run completes on the page", chromedp.WaitVisible(chromedp.CSS(`#run-phase.completed`)))
	tree := text("read the tree", "#main")
	for _, want := range []string{"approved by carol", "Cluster dash-prod", "NodePool user"} {
		if !strings.Contains(tree, want) {
			t.Errorf("the finished run's page lacks %q:\n%s", want, tree)
		}
	}
	if err := run.Wait(); err != nil {
		t.Errorf("upshift run: %v\n%s", err, runOut.String())
	}
	events, _ := st.Events("patch")
	var audited bool
	for _, ev := range events {
		audited = audited || ev.Type == "Approved" && strings.Contains(ev.Message, "carol (dashboard)")
	}
	if !audited {
		t.Errorf("the audit trail does not say carol approved from the dashboard: %+v", events)
	}

	do("phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Navigate(base+"/runs/patch"),
		chromedp.WaitVisible(chromedp.ID("run-phase")))
	shot("run-completed-phone.png")
	overflow, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`))
	if err != nil {
		fail("measure the page", err)
	}
	if overflow {
		t.Error("the run page scrolls sideways on a 390-pixel-wide phone")
	}
	if strings.Contains(dashOut.String(), token) || strings.Contains(runOut.String(), token) {
		t.Error("the dashboard token reached the output")
	}
}

func writeShot(t *testing.T, name string, png []byte) {
	t.Helper()
	if len(png) < 1000 {
		t.Fatalf("screenshot %s: %d bytes", name, len(png))
	}
	path := filepath.Join(artifacts(t), name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

func waitUntil(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
