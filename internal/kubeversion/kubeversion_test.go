package kubeversion_test

import (
	"strings"
	"testing"

	"upshift.dev/upshift/internal/kubeversion"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
	}{
		{"1.35", "1.35"}, {"v1.35", "1.35"}, {" 1.35.2 ", "v1.35.2"}, {"v1.35.2", "v1.35.2"},
		{"v1.30.5-gke.1014001", "v1.30.5"}, {"v1.30.4-eks-a737599", "v1.30.4"}, {"v1.31.2+k3s1", "v1.31.2"}, {"1.9", "1.9"},
	} {
		v, err := kubeversion.Parse(tc.in)
		if err != nil || v.String() != tc.want {
			t.Errorf("Parse(%q) = %v, %v; want %s", tc.in, v, err, tc.want)
		}
	}
	for _, in := range []string{"", "latest", "1", "v1", "2.0", "1.35.2.1", "1.x", "1..35", "01.35", "1.35.2 beta", "v1.35.2-"} {
		if v, err := kubeversion.Parse(in); err == nil {
			t.Errorf("Parse(%q) = %v, want an error", in, v)
		}
	}
}

func TestCompareAndResolve(t *testing.T) {
	p := kubeversion.MustParse
	if p("1.35.2").Compare(p("1.35.10")) >= 0 || p("1.36").CompareMinor(p("1.35.9")) <= 0 || p("1.35").Compare(p("v1.35.0")) != 0 {
		t.Error("ordering is wrong")
	}
	avail := []kubeversion.Version{p("v1.35.4"), p("v1.36.1"), p("v1.36.3"), p("v1.37.2")}
	for _, tc := range []struct{ want, got string }{{"1.36", "v1.36.3"}, {"1.36.1", "v1.36.1"}, {"v1.37", "v1.37.2"}} {
		r, err := kubeversion.Resolve(p(tc.want), avail)
		if err != nil || r.String() != tc.got {
			t.Errorf("Resolve(%s) = %v %v, want %s", tc.want, r, err, tc.got)
		}
	}
	if _, err := kubeversion.Resolve(p("1.36.2"), avail); err == nil || !strings.Contains(err.Error(), "1.36 (v1.36.3)") {
		t.Errorf("a patch not offered: %v", err)
	}
	hops, err := kubeversion.Hops(p("v1.35.4"), p("1.37"), avail)
	if err != nil || kubeversion.List(hops) != "1.36 (v1.36.3), 1.37 (v1.37.2)" {
		t.Errorf("hops 1.35 → 1.37: %v %v", hops, err)
	}
	if hops, err := kubeversion.Hops(p("v1.36.1"), p("1.36"), avail); err != nil || len(hops) != 0 {
		t.Errorf("hops at the target: %v %v", hops, err)
	}
	if _, err := kubeversion.Hops(p("v1.37.2"), p("1.35"), avail); err == nil || !strings.Contains(err.Error(), "downgrading") {
		t.Errorf("downgrade: %v", err)
	}
	if _, err := kubeversion.Hops(p("v1.34.1"), p("1.36"), avail[1:]); err == nil || !strings.Contains(err.Error(), "hop to 1.35") {
		t.Errorf("a missing hop: %v", err)
	}
	// A patch that does not exist is refused, with those that do; it is
	// never taken as met because the cluster already runs its minor.
	for _, tc := range []struct{ current, target string }{{"v1.36.3", "1.36.9"}, {"v1.36.1", "1.36.9"}, {"v1.35.4", "1.36.9"}} {
		if _, err := kubeversion.Hops(p(tc.current), p(tc.target), avail); err == nil || !strings.Contains(err.Error(), "not available") || !strings.Contains(err.Error(), "1.36 (v1.36.3)") {
			t.Errorf("%s to the missing patch %s: %v", tc.current, tc.target, err)
		}
	}
	if hops, err := kubeversion.Hops(p("v1.36.1"), p("1.36.3"), avail); err != nil || kubeversion.List(hops) != "1.36 (v1.36.3)" {
		t.Errorf("a later patch of the same minor: %v %v", hops, err)
	}
	if hops, err := kubeversion.Hops(p("v1.36.3"), p("1.36.3"), avail); err != nil || len(hops) != 0 {
		t.Errorf("at the target patch: %v %v", hops, err)
	}
	if _, err := kubeversion.Hops(p("v1.36.3"), p("1.36.1"), avail); err == nil || !strings.Contains(err.Error(), "downgrading") {
		t.Errorf("an earlier patch: %v", err)
	}
}

func TestSkewAndUpgradeRules(t *testing.T) {
	p := kubeversion.MustParse
	for _, tc := range []struct {
		cp, kubelet string
		ok          bool
	}{{"1.35", "1.35", true}, {"1.35", "1.32", true}, {"1.35", "1.31", false}, {"1.35", "1.36", false}} {
		if err := kubeversion.CheckKubeletSkew(p(tc.cp), p(tc.kubelet)); (err == nil) != tc.ok {
			t.Errorf("skew cp %s kubelet %s: %v", tc.cp, tc.kubelet, err)
		}
	}
	for _, tc := range []struct {
		from, to string
		ok       bool
	}{{"1.35.2", "1.35.4", true}, {"1.35", "1.36", true}, {"1.35", "1.37", false}, {"1.36", "1.35", false}} {
		if err := kubeversion.CheckControlPlaneUpgrade(p(tc.from), p(tc.to)); (err == nil) != tc.ok {
			t.Errorf("upgrade %s → %s: %v", tc.from, tc.to, err)
		}
	}
	if !p("1.22").MinorAtOrBefore(p("v1.22.5")) || p("1.23").MinorAtOrBefore(p("1.22")) || (kubeversion.Version{}).MinorAtOrBefore(p("1.30")) {
		t.Error("MinorAtOrBefore is wrong")
	}
}
