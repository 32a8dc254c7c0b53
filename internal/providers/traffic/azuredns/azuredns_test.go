package azuredns_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/azurearm"
	"upshift.dev/upshift/internal/azureemu"
	"upshift.dev/upshift/internal/azurespec"
	"upshift.dev/upshift/internal/methods/bluegreen"
	"upshift.dev/upshift/internal/providers/traffic"
	"upshift.dev/upshift/internal/providers/traffic/azuredns"
)

// emulator serves ARM with the zone example.test in resource group dns-rg.
func emulator(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(azurespec.Hold(t, azureemu.New(nil, "")))
	t.Cleanup(srv.Close)
	req, _ := http.NewRequest(http.MethodPut, srv.URL+"/subscriptions/"+azureemu.DefaultSubscription+"/resourceGroups/dns-rg/providers/Microsoft.Network/dnsZones/example.test?api-version="+azuredns.APIVersion, strings.NewReader(`{"location":"global"}`))
	req.Header.Set("Authorization", "Bearer "+azurearm.EmulatorToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("creating the zone: %v %v", resp, err)
	}
	resp.Body.Close()
	return srv.URL
}

func config(arm string) v1alpha1.AzureDNSTraffic {
	return v1alpha1.AzureDNSTraffic{SubscriptionID: azureemu.DefaultSubscription, ResourceGroup: "dns-rg", Zone: "example.test", ARMEndpoint: arm, SwitchTTL: 1,
		Targets: map[string]v1alpha1.DNSTarget{"aks-blue": {A: []string{"10.0.0.10", "10.0.0.11"}}, "aks-blue-g2": {CNAME: "green-ingress.example.net"}}}
}

// TestRecordSetsThroughTheEmulator: the name is pointed at A records, then
// at a CNAME (the A record set goes, as Azure allows one or the other), its
// TTL lowered with the old one kept in metadata, and restored; a split
// and a wrong subscription are refused with nothing changed.
func TestRecordSetsThroughTheEmulator(t *testing.T) {
	ctx := t.Context()
	arm := emulator(t)
	p, err := azuredns.New(config(arm))
	if err != nil {
		t.Fatal(err)
	}
	const host = "shop.example.test"
	if _, err := p.Weights(ctx, host); err == nil || !strings.Contains(err.Error(), traffic.ErrNoRoute.Error()) {
		t.Fatalf("a name without records: %v", err)
	}
	if err := p.Switch(ctx, host, traffic.Weights{"aks-blue": 100, "aks-blue-g2": 0}); err != nil {
		t.Fatal(err)
	}
	if w, err := p.Weights(ctx, host); err != nil || w.String() != "aks-blue-g2=0,aks-blue=100" {
		t.Fatalf("after pointing at blue: %v, %v", w, err)
	}
	if err := p.Switch(ctx, host, traffic.Weights{"aks-blue": 50, "aks-blue-g2": 50}); err == nil || !strings.Contains(err.Error(), "DNS cannot split traffic") {
		t.Errorf("a split: %v", err)
	}
	for range 2 { // a second lowering (a resumed run) waits out the kept TTL
		if wait, err := p.LowerTTL(ctx, host); err != nil || wait != 300*time.Second {
			t.Fatalf("LowerTTL: %s, %v; want the record's 300s", wait, err)
		}
	}
	if err := p.Switch(ctx, host, traffic.Weights{"aks-blue": 0, "aks-blue-g2": 100}); err != nil {
		t.Fatal(err)
	}
	if w, err := p.Weights(ctx, host); err != nil || w.String() != "aks-blue-g2=100,aks-blue=0" {
		t.Fatalf("after pointing at green: %v, %v", w, err)
	}
	if err := p.RestoreTTL(ctx, host); err != nil {
		t.Fatal(err)
	}
	if wait, err := p.LowerTTL(ctx, host); err != nil || wait != 300*time.Second {
		t.Fatalf("after the restore (across the switch to a CNAME): %s, %v; want 300s", wait, err)
	}

	bad := config(arm)
	bad.SubscriptionID = "11111111-2222-3333-4444-555555555555"
	pb, err := azuredns.New(bad)
	if err != nil {
		t.Fatal(err)
	}
	if err := pb.Switch(ctx, host, traffic.Weights{"aks-blue": 100, "aks-blue-g2": 0}); err == nil || !strings.Contains(err.Error(), "404 SubscriptionNotFound") || strings.Contains(err.Error(), "RESPONSE") {
		t.Errorf("a wrong subscription: %v", err)
	}
	if w, err := p.Weights(ctx, host); err != nil || w["aks-blue-g2"] != 100 {
		t.Errorf("after the refusals: %v, %v; want green unchanged", w, err)
	}
	for _, tc := range []struct {
		spec v1alpha1.TrafficSpec
		want string
	}{
		{v1alpha1.TrafficSpec{Provider: azuredns.Type}, "azureDNS (subscriptionID, resourceGroup, zone, targets) is required"},
		{v1alpha1.TrafficSpec{Provider: azuredns.Type, AzureDNS: &bad, Hosts: v1alpha1.HostNames{Cluster: "shop.example.com"}}, `"shop.example.com" is not a name in zone example.test`},
	} {
		if _, err := azuredns.FromSpec(tc.spec); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.spec, err, tc.want)
		}
	}
}

// TestSwitchWithAzureDNS runs T3 and a rollback through the provider: the
// record's TTL is lowered and waited out before the switch and restored
// after; the rollback points the name at blue again. Probes go to a
// stand-in front door, since nothing here resolves through the zone.
func TestSwitchWithAzureDNS(t *testing.T) {
	ctx := context.Background()
	arm := emulator(t)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }))
	defer front.Close()
	cfg := config(arm)
	p, err := azuredns.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	const host = "aks.example.test"
	// The user's record: blue's A records, TTL 2.
	setTTL(t, arm, host, 2)
	spec := v1alpha1.BlueGreenSpec{
		Traffic: v1alpha1.TrafficSpec{Provider: azuredns.Type, URL: front.URL, AzureDNS: &cfg,
			Hosts: v1alpha1.HostNames{Public: "shop.example.test", Cluster: host, Blue: "blue.example.test", Green: "green.example.test"}},
		PostSwitch: v1alpha1.PostSwitchSpec{Window: &metav1.Duration{Duration: time.Second}},
	}
	tp, err := azuredns.FromSpec(spec.Traffic)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	st := v1alpha1.BlueGreenStatus{Blue: "aks-blue", Green: "aks-blue-g2"}
	var progress []string
	m := &bluegreen.Move{Run: "azure-dns-run", Spec: spec, Traffic: tp, Blue: bluegreen.Cluster{Name: "aks-blue"},
		Resolve:  func(name string) (bluegreen.Cluster, error) { return bluegreen.Cluster{Name: name}, nil },
		Status:   func() v1alpha1.BlueGreenStatus { mu.Lock(); defer mu.Unlock(); return *st.DeepCopy() },
		Record:   func(fn func(*v1alpha1.BlueGreenStatus)) { mu.Lock(); defer mu.Unlock(); fn(&st) },
		Progress: func(msg string) { mu.Lock(); defer mu.Unlock(); progress = append(progress, msg) },
	}
	start := time.Now()
	if _, err := m.Switch(ctx); err != nil {
		t.Fatal(err)
	}
	if w, _ := p.Weights(ctx, host); w["aks-blue-g2"] != 100 {
		t.Fatalf("after T3 the name answers %v, want green", w)
	}
	waited := false
	for _, msg := range progress {
		waited = waited || strings.Contains(msg, "TTL of aks.example.test lowered; waiting 2s")
	}
	if !waited || time.Since(start) < 2*time.Second {
		t.Fatalf("the record's TTL was not waited out (%s): %q", time.Since(start), progress)
	}
	if wait, err := p.LowerTTL(ctx, host); err != nil || wait != 2*time.Second {
		t.Fatalf("the TTL after T3: %s, %v; want it restored to 2s", wait, err)
	}
	_ = p.RestoreTTL(ctx, host)
	if err := m.Rollback(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	if w, _ := p.Weights(ctx, host); w["aks-blue"] != 100 {
		t.Fatalf("after the rollback the name answers %v, want blue", w)
	}
}

// setTTL writes blue's A record set with a TTL, as a user would, through
// ARM.
func setTTL(t *testing.T, arm, host string, ttl int) {
	t.Helper()
	u := arm + "/subscriptions/" + azureemu.DefaultSubscription + "/resourceGroups/dns-rg/providers/Microsoft.Network/dnsZones/example.test/A/" + strings.TrimSuffix(host, ".example.test") + "?api-version=" + azuredns.APIVersion
	body := `{"properties":{"TTL":` + strconv.Itoa(ttl) + `,"ARecords":[{"ipv4Address":"10.0.0.10"},{"ipv4Address":"10.0.0.11"}]}}`
	req, _ := http.NewRequest(http.MethodPut, u, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer x")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode >= 300 {
		t.Fatalf("setting the TTL: %v %v", resp, err)
	}
	resp.Body.Close()
}
