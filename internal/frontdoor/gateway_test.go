package frontdoor_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"upshift.dev/upshift/internal/frontdoor"
	"upshift.dev/upshift/internal/ingress"
	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/providers/traffic"
	trafficgateway "upshift.dev/upshift/internal/providers/traffic/gateway"
	"upshift.dev/upshift/internal/sampleapp"
	"upshift.dev/upshift/internal/testfleet"
	"upshift.dev/upshift/internal/toolchain"
)

func TestMain(m *testing.M) { testfleet.Main(m) }

const (
	host  = "web.example"
	token = "test-admin-token-0123456789"
)

// TestSwitchUnderLoad moves a host from blue to green while clients keep
// sending requests, and checks that none is lost and that the gateway's
// counts agree with what each cluster's ingress saw.
func TestSwitchUnderLoad(t *testing.T) {
	ctx := t.Context()
	var wg sync.WaitGroup
	clusters := map[string]*localfleet.Cluster{}
	var mu sync.Mutex
	for name, version := range map[string]string{"blue": toolchain.Previous().Minor, "green": toolchain.Latest().Minor} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := testfleet.Up(t, localfleet.Spec{Name: name, KubernetesVersion: version, NodePools: []localfleet.PoolSpec{{Name: "user", Count: 2}}})
			client, err := c.Client()
			if err != nil {
				t.Error(err)
				return
			}
			app := sampleapp.App{Namespace: "shop", Name: "web", Host: host, Replicas: 2, MinAvailable: 1}
			if err := app.Deploy(ctx, client); err != nil {
				t.Error(err)
				return
			}
			if err := app.WaitAvailable(ctx, client, 2*time.Minute); err != nil {
				t.Error(err)
			}
			mu.Lock()
			clusters[name] = c
			mu.Unlock()
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	// Endpoints follow ready pods within a moment; wait for both ingresses.
	// What each ingress counted before the gateway existed (these polls).
	baseline := map[string]float64{}
	for name, c := range clusters {
		waitOK(t, c.IngressURL(), host)
		baseline[name] = testfleet.Scrape(t, c.IngressURL()+"/metrics", "").Sum("upshift_ingress_requests_total", map[string]string{"host": host})
	}

	cfg := frontdoor.Config{
		Listen: testfleet.LoopbackAddr(t), AdminListen: testfleet.LoopbackAddr(t),
		HealthInterval: frontdoor.Duration{Duration: 200 * time.Millisecond},
		Routes: []frontdoor.Route{{Host: host, Backends: []frontdoor.Backend{
			{Name: "blue", URL: clusters["blue"].IngressURL(), Weight: 100, HealthPath: "/"},
			{Name: "green", URL: clusters["green"].IngressURL(), Weight: 0, HealthPath: "/"},
		}}},
	}
	gw, err := frontdoor.New(cfg, token)
	if err != nil {
		t.Fatal(err)
	}
	gwCtx, stopGateway := context.WithCancel(ctx)
	gwDone := make(chan error, 1)
	go func() { gwDone <- gw.Run(gwCtx) }()
	defer func() { stopGateway(); <-gwDone }()
	front := "http://" + cfg.Listen
	waitOK(t, front, host)

	provider := trafficgateway.New("http://"+cfg.AdminListen, token)
	if w, err := provider.Weights(ctx, host); err != nil || w.String() != "blue=100,green=0" {
		t.Fatalf("weights before the switch: %v, %v", w, err)
	}

	// Bounded load: 8 clients until told to stop, at most 30 s.
	var sent, failed, fromGreenAfter, fromBlueAfter atomic.Int64
	var failMu sync.Mutex
	var failures []string
	fail := func(msg string) {
		failed.Add(1)
		failMu.Lock()
		failures = append(failures, msg)
		failMu.Unlock()
	}
	var switched atomic.Bool
	loadCtx, stopLoad := context.WithTimeout(ctx, 30*time.Second)
	var clients sync.WaitGroup
	for range 8 {
		clients.Add(1)
		go func() {
			defer clients.Done()
			hc := &http.Client{Timeout: 5 * time.Second}
			for loadCtx.Err() == nil {
				after := switched.Load()
				req, _ := http.NewRequestWithContext(loadCtx, http.MethodGet, front+"/", nil)
				req.Host = host
				resp, err := hc.Do(req)
				if loadCtx.Err() != nil {
					return
				}
				sent.Add(1)
				if err != nil {
					fail(err.Error())
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					fail(fmt.Sprintf("%d from %q: %s", resp.StatusCode, resp.Header.Get(frontdoor.BackendHeader), bytes.TrimSpace(body)))
				}
				if after {
					switch resp.Header.Get(frontdoor.BackendHeader) {
					case "green":
						fromGreenAfter.Add(1)
					case "blue":
						fromBlueAfter.Add(1)
					}
				}
			}
		}()
	}
	time.Sleep(1500 * time.Millisecond)
	start := time.Now()
	if err := provider.Switch(ctx, host, traffic.Weights{"blue": 0, "green": 100}); err != nil {
		t.Fatal(err)
	}
	t.Logf("switch applied in %s", time.Since(start))
	switched.Store(true)
	time.Sleep(1500 * time.Millisecond)
	stopLoad()
	clients.Wait()

	t.Logf("sent %d requests, %d failed; after the switch %d from green, %d from blue", sent.Load(), failed.Load(), fromGreenAfter.Load(), fromBlueAfter.Load())
	if sent.Load() < 100 || failed.Load() != 0 {
		t.Errorf("sent %d, failed %d: the switch must lose no request; failures: %q", sent.Load(), failed.Load(), failures)
	}
	if fromGreenAfter.Load() == 0 || fromBlueAfter.Load() != 0 {
		t.Errorf("after the switch: %d from green, %d from blue", fromGreenAfter.Load(), fromBlueAfter.Load())
	}

	// What the gateway counted per backend (requests + health checks) must
	// be what each cluster's ingress stand-in counted. Health checks go on,
	// so bracket the gateway's count between two ingress scrapes: the
	// ingress counts a request before it answers, the gateway after, with
	// at most one check in flight per backend. Requests the clients
	// abandoned as the load stopped (499) and checks that got no answer
	// may or may not have reached the ingress: they count in the upper
	// bound only.
	for name, c := range clusters {
		ingressBefore := testfleet.Scrape(t, c.IngressURL()+"/metrics", "").Sum("upshift_ingress_requests_total", map[string]string{"host": host}) - baseline[name]
		m := testfleet.Scrape(t, "http://"+cfg.AdminListen+"/metrics", token)
		requests := m.Sum("upshift_gateway_requests_total", map[string]string{"backend": name})
		abandoned := m.Sum("upshift_gateway_requests_total", map[string]string{"backend": name, "code": "499"})
		answered := m.Sum("upshift_gateway_health_checks_total", map[string]string{"backend": name, "result": "answered"})
		unanswered := m.Sum("upshift_gateway_health_checks_total", map[string]string{"backend": name, "result": "failed"})
		ingressAfter := testfleet.Scrape(t, c.IngressURL()+"/metrics", "").Sum("upshift_ingress_requests_total", map[string]string{"host": host}) - baseline[name]
		sure, upTo := requests-abandoned+answered, requests+answered+unanswered
		if sure > ingressAfter || upTo < ingressBefore-1 {
			t.Errorf("%s: the gateway surely forwarded %v and at most %v requests and health checks (%v abandoned, %v checks unanswered); the ingress counted %v then %v", name, sure, upTo, abandoned, unanswered, ingressBefore, ingressAfter)
		}
	}
}

// TestGatewayFeatures covers the admin API's authentication and checks,
// the pin header, and retries on a refused connection.
func TestGatewayFeatures(t *testing.T) {
	ctx := t.Context()
	c := testfleet.Up(t, localfleet.Spec{Name: "solo", KubernetesVersion: toolchain.Previous().Minor, NodePools: []localfleet.PoolSpec{{Name: "user", Count: 1}}})
	client, _ := c.Client()
	app := sampleapp.App{Namespace: "shop", Name: "web", Host: host, Replicas: 1}
	if err := app.Deploy(ctx, client); err != nil {
		t.Fatal(err)
	}
	if err := app.WaitAvailable(ctx, client, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	waitOK(t, c.IngressURL(), host)
	// A backend that passes its first health check, then dies.
	dying := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	dead := dying.URL
	cfg := frontdoor.Config{
		Listen: testfleet.LoopbackAddr(t), AdminListen: testfleet.LoopbackAddr(t),
		HealthInterval: frontdoor.Duration{Duration: time.Hour}, // only retries can notice the dead backend
		Routes: []frontdoor.Route{{Host: host, Affinity: true, AllowPin: true, PinFromLoopback: true, Backends: []frontdoor.Backend{
			{Name: "live", URL: c.IngressURL(), Weight: 50},
			{Name: "dead", URL: dead, Weight: 50},
		}}},
	}
	gw, err := frontdoor.New(cfg, token)
	if err != nil {
		t.Fatal(err)
	}
	gwCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- gw.Run(gwCtx) }()
	defer func() { stop(); <-done }()
	front := "http://" + cfg.Listen
	waitOK(t, front, host)
	// Let the first health pass see the dying backend alive, then kill it.
	for deadline := time.Now().Add(time.Minute); testfleet.Scrape(t, "http://"+cfg.AdminListen+"/metrics", token).Sum("upshift_gateway_health_checks_total", map[string]string{"backend": "dead"}) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the gateway never checked the dying backend")
		}
		time.Sleep(20 * time.Millisecond)
	}
	dying.Close()

	// Half the picks land on a refused connection; every request must still
	// succeed, retried on the live backend.
	for i := range 40 {
		code, by := get(t, front, host, nil)
		if code != http.StatusOK || by != "live" {
			t.Fatalf("request %d: %d from %q", i, code, by)
		}
	}
	m := testfleet.Scrape(t, "http://"+cfg.AdminListen+"/metrics", token)
	if m.Sum("upshift_gateway_retries_total", map[string]string{"backend": "dead"}) == 0 {
		t.Error("no retry was counted")
	}
	// The pin header reaches the named backend only while it is healthy:
	// the refused connections marked the dead one unhealthy.
	if code, _ := get(t, front, host, map[string]string{frontdoor.PinHeader: "dead"}); code != http.StatusServiceUnavailable {
		t.Errorf("pinned to the dead backend: %d, want 503", code)
	}
	if code, by := get(t, front, host, map[string]string{frontdoor.PinHeader: "live"}); code != http.StatusOK || by != "live" {
		t.Errorf("pinned to the live backend: %d from %q", code, by)
	}
	// The admin API wants the token and valid weights.
	adminURL := "http://" + cfg.AdminListen + "/routes/" + host + "/weights"
	for _, tc := range []struct {
		token, body string
		want        int
	}{
		{"wrong-token-0123456789", `{"live":100,"dead":0}`, http.StatusUnauthorized},
		{token, `{"live":60,"dead":60}`, http.StatusBadRequest},
		{token, `{"live":100,"ghost":0}`, http.StatusBadRequest},
		{token, `not json`, http.StatusBadRequest},
		{token, `{"live":100,"dead":0}`, http.StatusNoContent},
	} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPut, adminURL, strings.NewReader(tc.body))
		req.Header.Set("Authorization", "Bearer "+tc.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("PUT %s with token %q: %d, want %d", tc.body, tc.token[:4], resp.StatusCode, tc.want)
		}
	}
	if _, err := trafficgateway.New("http://"+cfg.AdminListen, "wrong-token-0123456789").Weights(ctx, host); err == nil || !strings.Contains(err.Error(), "refused the token") {
		t.Errorf("provider with a wrong token: %v", err)
	}
	if _, err := frontdoor.New(cfg, "short"); err == nil {
		t.Error("a short admin token was accepted")
	}
}

func get(t *testing.T, front, host string, headers map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, front+"/", nil)
	req.Host = host
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get(frontdoor.BackendHeader)
}

// waitOK waits until base serves host: the gateway passes the ingress
// stand-in's answer through, so one helper serves both.
func waitOK(t *testing.T, base, host string) {
	t.Helper()
	if _, err := ingress.WaitServed(t.Context(), base, host, 1, time.Minute); err != nil {
		t.Fatal(err)
	}
}

// TestStateFileKeepsSwitches: a gateway restarted with a state file keeps
// the weights and routes the admin API set, not its configuration's.
func TestStateFileKeepsSwitches(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer backend.Close()
	state := filepath.Join(t.TempDir(), "routes.json")
	cfg := frontdoor.Config{Listen: testfleet.LoopbackAddr(t), AdminListen: testfleet.LoopbackAddr(t), StateFile: state,
		Routes: []frontdoor.Route{{Host: host, Backends: []frontdoor.Backend{{Name: "blue", URL: backend.URL, Weight: 100}, {Name: "green", URL: backend.URL}}}}}
	gw, err := frontdoor.New(cfg, token)
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.SetWeights(host, traffic.Weights{"blue": 0, "green": 100}); err != nil {
		t.Fatal(err)
	}
	if err := gw.ApplyRoute(frontdoor.Route{Host: "green." + host, UpstreamHost: host, Backends: []frontdoor.Backend{{Name: "green", URL: backend.URL, Weight: 100}}}); err != nil {
		t.Fatal(err)
	}
	restarted, err := frontdoor.New(cfg, token)
	if err != nil {
		t.Fatal(err)
	}
	if w, err := restarted.Weights(host); err != nil || w.String() != "blue=0,green=100" {
		t.Fatalf("after a restart: %v %v, want the switch kept", w, err)
	}
	if r, err := restarted.Route("green." + host); err != nil || r.UpstreamHost != host {
		t.Fatalf("route added through the admin API lost on restart: %+v %v", r, err)
	}
	if err := os.WriteFile(state, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := frontdoor.New(cfg, token); err == nil || !strings.Contains(err.Error(), "--reset-state") {
		t.Fatalf("corrupt state file: %v", err)
	}
}
