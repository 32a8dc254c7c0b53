package rules

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// TestWellKnownRemovals checks the derived table against removals every
// Kubernetes user met.
func TestWellKnownRemovals(t *testing.T) {
	table := Default()
	for _, tc := range []struct {
		group, version, kind string
		removed              Version
		replacement          string
	}{
		{"extensions", "v1beta1", "Ingress", minor(22), "networking.k8s.io/v1 Ingress"},
		{"networking.k8s.io", "v1beta1", "Ingress", minor(22), "networking.k8s.io/v1 Ingress"},
		{"policy", "v1beta1", "PodDisruptionBudget", minor(25), "policy/v1 PodDisruptionBudget"},
		{"batch", "v1beta1", "CronJob", minor(25), "batch/v1 CronJob"},
		{"autoscaling", "v2beta2", "HorizontalPodAutoscaler", minor(26), "autoscaling/v2 HorizontalPodAutoscaler"},
		{"flowcontrol.apiserver.k8s.io", "v1beta2", "FlowSchema", minor(29), "flowcontrol.apiserver.k8s.io/v1beta3 FlowSchema"},
		{"flowcontrol.apiserver.k8s.io", "v1beta3", "PriorityLevelConfiguration", minor(32), "flowcontrol.apiserver.k8s.io/v1 PriorityLevelConfiguration"},
		{"policy", "v1beta1", "PodSecurityPolicy", minor(25), ""},
		{"apps", "v1beta1", "Deployment", minor(16), "apps/v1 Deployment"},
		// The removals of the releases users upgrade through today.
		{"storage.k8s.io", "v1beta1", "VolumeAttributesClass", minor(37), "storage.k8s.io/v1 VolumeAttributesClass"},
		{"networking.k8s.io", "v1beta1", "ServiceCIDR", minor(37), "networking.k8s.io/v1 ServiceCIDR"},
		{"networking.k8s.io", "v1beta1", "IPAddress", minor(37), "networking.k8s.io/v1 IPAddress"},
		{"certificates.k8s.io", "v1alpha1", "ClusterTrustBundle", minor(37), "certificates.k8s.io/v1 ClusterTrustBundle"},
		{"admissionregistration.k8s.io", "v1beta1", "ValidatingAdmissionPolicy", minor(34), "admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy"},
		{"resource.k8s.io", "v1beta2", "ResourceClaim", minor(39), "resource.k8s.io/v1 ResourceClaim"},
	} {
		t.Run(tc.group+"/"+tc.version+" "+tc.kind, func(t *testing.T) {
			r, ok := table.Lookup(schema.GroupVersionKind{Group: tc.group, Version: tc.version, Kind: tc.kind})
			if !ok {
				t.Fatal("no rule")
			}
			if r.Removed != tc.removed {
				t.Errorf("removed in %s, want %s", r.Removed, tc.removed)
			}
			if r.Deprecated.IsZero() || !r.Deprecated.MinorAtOrBefore(r.Removed) {
				t.Errorf("deprecated in %q, removed in %s", r.Deprecated, r.Removed)
			}
			if got := r.ReplacementString(); got != tc.replacement {
				t.Errorf("replacement %q, want %q", got, tc.replacement)
			}
		})
	}
	if _, ok := table.Lookup(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}); ok {
		t.Error("apps/v1 Deployment has a deprecation rule")
	}
	if r, ok := table.LookupResource(schema.GroupVersionResource{Group: "policy", Version: "v1beta1", Resource: "podsecuritypolicies"}); !ok || r.GVK.Kind != "PodSecurityPolicy" {
		t.Errorf("resource lookup of podsecuritypolicies: %v %v", r, ok)
	}
	fs, _ := table.Lookup(schema.GroupVersionKind{Group: "flowcontrol.apiserver.k8s.io", Version: "v1beta2", Kind: "FlowSchema"})
	if got := table.ReplacementAt(fs, minor(34)); got.Version != "v1" {
		t.Errorf("replacement of flowcontrol v1beta2 at 1.34 = %v, want v1", got)
	}
	if got := table.ReplacementAt(fs, minor(29)); got.Version != "v1beta3" {
		t.Errorf("replacement of flowcontrol v1beta2 at 1.29 = %v, want v1beta3", got)
	}
	if len(table.All()) < 50 {
		t.Errorf("only %d rules derived", len(table.All()))
	}
}

func TestParseVersion(t *testing.T) {
	for in, want := range map[string]Version{"1.25": minor(25), "v1.34": minor(34), "v1.34.4": minor(34)} {
		if got, err := ParseVersion(in); err != nil || got != want {
			t.Errorf("ParseVersion(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "1", "2.1", "1.x", "latest", "1.2.3.4", "1..2"} {
		if _, err := ParseVersion(in); err == nil {
			t.Errorf("ParseVersion(%q) succeeded", in)
		}
	}
}

// TestAPIModuleMinor: the minor the scan says its rules know through is
// that of the k8s.io/api module go.mod requires.
func TestAPIModuleMinor(t *testing.T) {
	data, err := os.ReadFile("../../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*k8s\.io/api v0\.(\d+)\.`).FindSubmatch(data)
	if m == nil {
		t.Fatal("go.mod requires no k8s.io/api")
	}
	if got, _ := strconv.Atoi(string(m[1])); got != APIModuleMinor {
		t.Errorf("go.mod requires k8s.io/api v0.%d, rules.APIModuleMinor is %d: update it", got, APIModuleMinor)
	}
}

// TestAddonRules: addons.yaml reads strictly, every entry names its
// source, and the add-ons users ask for are known (pluto#20, #541).
func TestAddonRules(t *testing.T) {
	rs, err := addonRules()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if !strings.HasPrefix(r.Source, "https://") || r.Removed.IsZero() || r.Deprecated.Compare(r.Removed) > 0 {
			t.Errorf("%s: source %q, deprecated %s, removed %s", r.GVK, r.Source, r.Deprecated, r.Removed)
		}
	}
	tab := Default()
	if got := tab.Components(); strings.Join(got, ",") != "cert-manager,istio" {
		t.Errorf("components %q", got)
	}
	r, ok := tab.LookupAddon(gvk("acme.cert-manager.io", "v1alpha3", "Challenge"))
	if !ok || r.Component != "cert-manager" || r.Removed != (Version{Major: 1, Minor: 6}) || r.Replacement != gvk("acme.cert-manager.io", "v1", "Challenge") {
		t.Errorf("acme v1alpha3 Challenge: %+v, %v", r, ok)
	}
	if _, ok := tab.Lookup(gvk("cert-manager.io", "v1alpha2", "Certificate")); ok {
		t.Error("an add-on's rule is among Kubernetes' rules")
	}
	for _, bad := range []string{"x", "1", ""} {
		if _, err := ParseAddonVersion(bad); err == nil {
			t.Errorf("ParseAddonVersion(%q) accepted", bad)
		}
	}
}
