package bluegreen_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/methods/bluegreen"
	updns "upshift.dev/upshift/internal/providers/traffic/dns"
	"upshift.dev/upshift/internal/providers/traffickinds"
	"upshift.dev/upshift/internal/testdns"
)

// TestSwitchWithDNS runs T3 and a rollback through the DNS provider
// against a real BIND: the TTL is lowered and waited out before the
// switch and restored after, the cluster name answers green's records
// after the switch and blue's after the rollback, and a wrong TSIG key
// fails the phase with the name still on blue. The clusters' addresses are
// DNS data only; upshift's probes go to a stand-in front door, since
// nothing on this machine resolves through the test's BIND.
func TestSwitchWithDNS(t *testing.T) {
	ctx := context.Background()
	addr, secret := testdns.StartBIND(t, 2)
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }))
	defer front.Close()

	spec := v1alpha1.BlueGreenSpec{
		Traffic: v1alpha1.TrafficSpec{
			Provider: v1alpha1.TrafficDNS, URL: front.URL,
			Hosts: v1alpha1.HostNames{Public: "shop.example.test", Cluster: "aks.example.test", Blue: "blue.example.test", Green: "green.example.test"},
			DNS: &v1alpha1.DNSTraffic{Server: addr, Zone: "example.test", KeyName: "upshift-key", KeySecretFile: write("tsig", secret), TTL: 2, SwitchTTL: 1,
				Targets: map[string]v1alpha1.DNSTarget{"aks-blue": {A: []string{"127.0.0.10"}}, "aks-blue-g2": {A: []string{"127.0.0.20"}}}},
		},
		PostSwitch: v1alpha1.PostSwitchSpec{Window: &metav1.Duration{Duration: time.Second}},
	}
	lookup, err := updns.New(updns.Config{Server: addr, Zone: "example.test", KeyName: "upshift-key", KeySecret: secret, Targets: map[string]updns.Target{
		"aks-blue": {A: []string{"127.0.0.10"}}, "aks-blue-g2": {A: []string{"127.0.0.20"}}}})
	if err != nil {
		t.Fatal(err)
	}
	answers := func() (string, uint32) {
		t.Helper()
		r, err := lookup.Lookup(ctx, "aks.example.test")
		if err != nil {
			t.Fatal(err)
		}
		return r.Backend, r.TTL
	}

	move := func(spec v1alpha1.BlueGreenSpec) (*bluegreen.Move, *[]string) {
		tp, err := traffickinds.New(spec.Traffic)
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		st := v1alpha1.BlueGreenStatus{Blue: "aks-blue", Green: "aks-blue-g2"}
		var progress []string
		return &bluegreen.Move{
			Run: "dns-run", Spec: spec, Traffic: tp,
			Blue:    bluegreen.Cluster{Name: "aks-blue"},
			Resolve: func(name string) (bluegreen.Cluster, error) { return bluegreen.Cluster{Name: name}, nil },
			Status:  func() v1alpha1.BlueGreenStatus { mu.Lock(); defer mu.Unlock(); return *st.DeepCopy() },
			Record:  func(fn func(*v1alpha1.BlueGreenStatus)) { mu.Lock(); defer mu.Unlock(); fn(&st) },
			Progress: func(msg string) {
				mu.Lock()
				defer mu.Unlock()
				progress = append(progress, msg)
			},
		}, &progress
	}

	// A wrong key fails before anything changes.
	bad := spec
	bad.Traffic.DNS = spec.Traffic.DNS.DeepCopy()
	bad.Traffic.DNS.KeySecretFile = write("wrong", "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktMDE=")
	m, _ := move(bad)
	if _, err := m.Switch(ctx); err == nil || !strings.Contains(err.Error(), "TSIG") {
		t.Fatalf("switch with a wrong key: %v; want a TSIG failure", err)
	}
	if b, _ := answers(); b != "aks-blue" {
		t.Fatalf("after the failed switch the name answers %s, want blue", b)
	}

	m, progress := move(spec)
	start := time.Now()
	msg, err := m.Switch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if b, ttl := answers(); b != "aks-blue-g2" || ttl != 2 {
		t.Fatalf("after the switch: %s with TTL %d, want green with the TTL restored to 2", b, ttl)
	}
	lowered := false
	for _, p := range *progress {
		lowered = lowered || strings.Contains(p, "TTL of aks.example.test lowered; waiting 2s")
	}
	if !lowered || time.Since(start) < 2*time.Second {
		t.Fatalf("the old TTL was not waited out before the switch (%s): %v", time.Since(start), *progress)
	}
	t.Logf("T3 with DNS: %s", msg)

	if err := m.Rollback(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	if b, ttl := answers(); b != "aks-blue" || ttl != 2 {
		t.Fatalf("after the rollback: %s with TTL %d, want blue with TTL 2", b, ttl)
	}
	if st := m.Status(); st.RolledBack == nil || st.Switched == nil || st.SwitchDuration == nil {
		t.Fatalf("status: %+v", st)
	}
}
