package dns_test

import (
	"context"
	"encoding/base64"
	"net"
	"strings"
	"testing"
	"time"

	"upshift.dev/upshift/internal/providers/traffic"
	updns "upshift.dev/upshift/internal/providers/traffic/dns"
	"upshift.dev/upshift/internal/testdns"
)

// The addresses are DNS data only; nothing ever connects to them.
var targets = map[string]updns.Target{
	"blue":  {A: []string{"127.0.0.10"}},
	"green": {A: []string{"127.0.0.20", "127.0.0.21"}},
	"edge":  {CNAME: "green-lb.example.test"},
}

func TestSwitchWithBIND(t *testing.T) {
	ctx := context.Background()
	addr, secret := testdns.StartBIND(t, 300)
	p, err := updns.New(updns.Config{Server: addr, Zone: "example.test", KeyName: "upshift-key", KeySecret: secret, Targets: targets, TTL: 300, SwitchTTL: 30})
	if err != nil {
		t.Fatal(err)
	}
	const name = "aks.example.test"
	if w, err := p.Weights(ctx, name); err != nil || w["blue"] != 100 {
		t.Fatalf("weights before: %v, %v", w, err)
	}

	wait, err := p.LowerTTL(ctx, name)
	if err != nil || wait != 300*time.Second {
		t.Fatalf("lowering the TTL: wait %s, %v", wait, err)
	}
	if rec, _ := p.Lookup(ctx, name); rec.TTL != 30 || rec.Backend != "blue" {
		t.Errorf("after lowering: %+v", rec)
	}
	if err := p.Switch(ctx, name, traffic.Weights{"blue": 0, "green": 100, "edge": 0}); err != nil {
		t.Fatal(err)
	}
	if rec, _ := p.Lookup(ctx, name); rec.Backend != "green" || rec.TTL != 30 || strings.Join(rec.Data, ",") != "127.0.0.20,127.0.0.21" {
		t.Errorf("after the switch: %+v", rec)
	}
	if err := p.RestoreTTL(ctx, name); err != nil {
		t.Fatal(err)
	}
	if rec, _ := p.Lookup(ctx, name); rec.TTL != 300 || rec.Backend != "green" {
		t.Errorf("after restoring the TTL: %+v", rec)
	}
	// A to CNAME and back, each in one update.
	if err := p.Switch(ctx, name, traffic.Weights{"blue": 0, "green": 0, "edge": 100}); err != nil {
		t.Fatal(err)
	}
	if rec, _ := p.Lookup(ctx, name); rec.Backend != "edge" || rec.Data[0] != "green-lb.example.test." {
		t.Errorf("after switching to a CNAME: %+v", rec)
	}
	if err := p.Switch(ctx, name, traffic.Weights{"blue": 0, "green": 100, "edge": 0}); err != nil {
		t.Fatal(err)
	}

	// A wrong key changes nothing and says what to check.
	wrongKey := base64.StdEncoding.EncodeToString([]byte("not-the-secret-0123456789abcdef!"))
	bad, _ := updns.New(updns.Config{Server: addr, Zone: "example.test", KeyName: "upshift-key", KeySecret: wrongKey, Targets: targets})
	err = bad.Switch(ctx, name, traffic.Weights{"blue": 100, "green": 0, "edge": 0})
	if err == nil || !strings.Contains(err.Error(), "TSIG") {
		t.Errorf("switch with a wrong key: %v", err)
	}
	if err != nil && (strings.Contains(err.Error(), wrongKey) || strings.Contains(err.Error(), secret)) {
		t.Errorf("the error shows a TSIG secret: %v", err)
	}
	if rec, _ := p.Lookup(ctx, name); rec.Backend != "green" {
		t.Errorf("a refused switch changed the record: %+v", rec)
	}
	// So does an unreachable server, quickly.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := l.Addr().String()
	l.Close()
	gone, _ := updns.New(updns.Config{Server: dead, Zone: "example.test", KeyName: "upshift-key", KeySecret: secret, Targets: targets, Timeout: time.Second})
	start := time.Now()
	if err := gone.Switch(ctx, name, traffic.Weights{"blue": 100, "green": 0, "edge": 0}); err == nil || time.Since(start) > 5*time.Second || strings.Contains(err.Error(), secret) {
		t.Errorf("switch against an unreachable server: %v after %s (and never the secret)", err, time.Since(start))
	}
	// DNS cannot split traffic.
	if err := p.Switch(ctx, name, traffic.Weights{"blue": 50, "green": 50, "edge": 0}); err == nil || !strings.Contains(err.Error(), "cannot split") {
		t.Errorf("a partial switch: %v", err)
	}
}

func TestNewValidates(t *testing.T) {
	for _, tc := range []struct {
		cfg  updns.Config
		want string
	}{
		{updns.Config{Server: "nohost", KeyName: "k", KeySecret: "s", Targets: targets}, "host:port"},
		{updns.Config{Server: "127.0.0.1:53", Targets: targets}, "TSIG"},
		{updns.Config{Server: "127.0.0.1:53", KeyName: "k", KeySecret: "s", Targets: map[string]updns.Target{"a": {A: []string{"1.2.3.4"}}}}, "two targets"},
		{updns.Config{Server: "127.0.0.1:53", KeyName: "k", KeySecret: "s", Targets: map[string]updns.Target{"a": {A: []string{"x"}}, "b": {CNAME: "c"}}}, "not an IPv4"},
	} {
		if _, err := updns.New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want %q", tc.cfg, err, tc.want)
		}
	}
}
