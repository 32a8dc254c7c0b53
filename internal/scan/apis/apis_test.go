package apis

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"upshift.dev/upshift/internal/scan/manifest"
	"upshift.dev/upshift/internal/scan/report"
	"upshift.dev/upshift/internal/scan/rules"
)

var target = rules.Version{Major: 1, Minor: 34}

func entry(manager, apiVersion string, at time.Time, ownsAnnotation bool) metav1.ManagedFieldsEntry {
	raw := `{"f:spec":{}}`
	if ownsAnnotation {
		raw = `{"f:metadata":{"f:annotations":{"f:` + lastApplied + `":{}}}}`
	}
	t := metav1.NewTime(at)
	return metav1.ManagedFieldsEntry{Manager: manager, APIVersion: apiVersion, Operation: metav1.ManagedFieldsOperationUpdate, Time: &t, FieldsV1: metav1.NewFieldsV1(raw)}
}

func TestObjectConfidence(t *testing.T) {
	s := New(target)
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	applied := map[string]string{lastApplied: `{"apiVersion":"extensions/v1beta1","kind":"Ingress","metadata":{"name":"web"}}`}
	for _, tc := range []struct {
		name       string
		meta       metav1.ObjectMeta
		want       string // confidence prefix; "" for no finding
		severity   string
		blocks     bool
		sourcePart string
	}{
		{"annotation agreed by managedFields", metav1.ObjectMeta{Annotations: applied, ManagedFields: []metav1.ManagedFieldsEntry{entry("kubectl-client-side-apply", "extensions/v1beta1", t0, true)}},
			ConfidenceHigh, report.SeverityError, true, "last-applied-configuration + managedFields (kubectl-client-side-apply)"},
		{"stale annotation after a newer write", metav1.ObjectMeta{Annotations: applied, ManagedFields: []metav1.ManagedFieldsEntry{
			entry("kubectl-client-side-apply", "networking.k8s.io/v1", t0, true), entry("argocd-controller", "networking.k8s.io/v1", t0.Add(time.Hour), false)}},
			ConfidenceLow, report.SeverityInfo, false, "last-applied-configuration"},
		{"annotation without managedFields", metav1.ObjectMeta{Annotations: applied},
			ConfidenceMedium, report.SeverityError, true, "last-applied-configuration"},
		{"server-side apply with an old version", metav1.ObjectMeta{ManagedFields: []metav1.ManagedFieldsEntry{entry("helm", "extensions/v1beta1", t0, false)}},
			ConfidenceHigh, report.SeverityError, true, "managedFields (helm)"},
		{"an old writer among newer ones", metav1.ObjectMeta{ManagedFields: []metav1.ManagedFieldsEntry{
			entry("old-pipeline", "extensions/v1beta1", t0, false), entry("argocd-controller", "networking.k8s.io/v1", t0.Add(time.Hour), false)}},
			ConfidenceMedium, report.SeverityError, true, "managedFields (old-pipeline)"},
		{"current versions only", metav1.ObjectMeta{ManagedFields: []metav1.ManagedFieldsEntry{entry("argocd-controller", "networking.k8s.io/v1", t0, false)}},
			"", "", false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.meta.Name, tc.meta.Namespace = "web", "shop"
			got := s.object("prod", "Ingress", &tc.meta)
			if tc.want == "" {
				if len(got) != 0 {
					t.Fatalf("findings %+v, want none", got)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("findings %+v, want one", got)
			}
			f := got[0]
			if !strings.HasPrefix(f.Confidence, tc.want) || f.Severity != tc.severity || f.BlocksTarget != tc.blocks || f.Source != tc.sourcePart {
				t.Errorf("finding: confidence %q severity %s blocks %v source %q; want %s %s %v %q", f.Confidence, f.Severity, f.BlocksTarget, f.Source, tc.want, tc.severity, tc.blocks, tc.sourcePart)
			}
			if f.Cluster != "prod" || f.Namespace != "shop" || f.Replacement != "networking.k8s.io/v1 Ingress" {
				t.Errorf("finding %+v", f)
			}
		})
	}
}

func TestRequestedFromMetrics(t *testing.T) {
	metrics := `# HELP apiserver_requested_deprecated_apis [STABLE] Gauge of deprecated APIs that have been requested, broken out by API group, version, resource, subresource, and removed_release.
# TYPE apiserver_requested_deprecated_apis gauge
apiserver_requested_deprecated_apis{group="",removed_release="",resource="componentstatuses",subresource="",version="v1"} 1
apiserver_requested_deprecated_apis{group="storage.k8s.io",removed_release="1.37",resource="volumeattributesclasses",subresource="",version="v1beta1"} 1
apiserver_requested_deprecated_apis{group="flowcontrol.apiserver.k8s.io",removed_release="1.32",resource="flowschemas",subresource="",version="v1beta3"} 1
`
	got, err := New(target).RequestedFromMetrics("prod", []byte(metrics))
	if err != nil || len(got) != 3 {
		t.Fatalf("findings %+v, %v", got, err)
	}
	bySeverity := map[string]report.Finding{}
	for _, f := range got {
		bySeverity[f.Severity] = f
	}
	if f := bySeverity[report.SeverityInfo]; f.Kind != "componentstatuses" || f.BlocksTarget {
		t.Errorf("componentstatuses: %+v", f)
	}
	if f := bySeverity[report.SeverityWarning]; f.Kind != "VolumeAttributesClass" || f.RemovedIn != "1.37" {
		t.Errorf("volumeattributesclasses: %+v", f)
	}
	if f := bySeverity[report.SeverityError]; f.Kind != "FlowSchema" || !f.BlocksTarget || f.Replacement != "flowcontrol.apiserver.k8s.io/v1 FlowSchema" {
		t.Errorf("flowschemas: %+v", f)
	}
}

func TestHelmReleaseRoundTrip(t *testing.T) {
	data, err := EncodeHelmRelease("shop", "shop", 3, "shop", "1.2.3", "apiVersion: batch/v1beta1\nkind: CronJob\nmetadata:\n  name: nightly\n")
	if err != nil {
		t.Fatal(err)
	}
	rel, err := DecodeHelmRelease(data)
	if err != nil || rel.Version != 3 || rel.Chart.Metadata.Version != "1.2.3" || !strings.Contains(rel.Manifest, "CronJob") {
		t.Fatalf("decoded %+v, %v", rel, err)
	}
	if _, err := DecodeHelmRelease([]byte("not base64!")); err == nil {
		t.Error("garbage decoded")
	}
}

func TestManifestFindings(t *testing.T) {
	objs, _ := manifest.Read("m.yaml", []byte("apiVersion: autoscaling/v2beta2\nkind: HorizontalPodAutoscaler\nmetadata: {name: h}\n---\napiVersion: storage.k8s.io/v1beta1\nkind: VolumeAttributesClass\nmetadata: {name: v}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n"))
	got := New(target).Manifests(objs)
	if len(got) != 2 {
		t.Fatalf("findings %+v", got)
	}
	if got[0].Check != CheckRemoved || got[0].Source != "m.yaml:1" || got[0].Replacement != "autoscaling/v2 HorizontalPodAutoscaler" {
		t.Errorf("hpa finding %+v", got[0])
	}
	if got[1].Check != CheckDeprecated || got[1].Line != 5 || got[1].RemovedIn != "1.37" || got[1].BlocksTarget {
		t.Errorf("vac finding %+v", got[1])
	}
}

// TestRBACGrants: a Role's rule that grants resources in an API group
// serving them in no version at the target is found, once per rule and
// group, at the rule's line, with where the resources moved; grants that
// still grant (policy poddisruptionbudgets, apps deployments, the core
// group, wildcards) are not, and nothing is found before the removal.
func TestRBACGrants(t *testing.T) {
	doc := `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: legacy-deployer}
rules:
- apiGroups: [extensions]
  resources: [ingresses, deployments, deployments/scale]
  verbs: [get, list, update]
- apiGroups: [policy]
  resources: [poddisruptionbudgets, podsecuritypolicies]
  verbs: [use]
- apiGroups: [apps, "", "*"]
  resources: [deployments, pods, "*"]
  verbs: ["*"]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: rules-not-rbac}
data: {}
`
	objs, errs := manifest.Read("role.yaml", []byte(doc))
	if len(errs) > 0 || len(objs) != 2 {
		t.Fatalf("read %d objects: %v", len(objs), errs)
	}
	got := New(rules.Version{Major: 1, Minor: 37}).Manifests(objs)
	if len(got) != 2 {
		t.Fatalf("%d findings, want 2: %+v", len(got), got)
	}
	ext, psp := got[0], got[1]
	if ext.Check != CheckRBACGroup || ext.Line != 5 || ext.Name != "legacy-deployer" || ext.RemovedIn != "1.22" ||
		!strings.Contains(ext.Message, `ingresses, deployments, deployments/scale in apiGroup "extensions"`) || !strings.Contains(ext.Fix, "networking.k8s.io") || !strings.Contains(ext.Fix, "apps") {
		t.Errorf("extensions: %+v", ext)
	}
	if psp.Line != 8 || !strings.Contains(psp.Message, "podsecuritypolicies") || strings.Contains(psp.Message, "poddisruptionbudgets") || !strings.Contains(psp.Fix, "no API group serves them") {
		t.Errorf("policy: %+v", psp)
	}
	if before := New(rules.Version{Major: 1, Minor: 15}).Manifests(objs); len(before) != 0 {
		t.Errorf("at 1.15, before any removal: %+v", before)
	}
}

// TestAddonAPIs: an add-on's API is checked against the add-on's release
// named with --target (cert-manager 1.6 no longer serves v1alpha2: an
// error that blocks; 1.5 deprecates it: a warning; 1.3 neither), and
// without one it is a warning that says how to name it, never blocking.
// The table and JSON name the add-on's releases as its own.
func TestAddonAPIs(t *testing.T) {
	objs := []manifest.Object{
		{APIVersion: "cert-manager.io/v1alpha2", Kind: "Certificate", Name: "web", File: "tls.yaml", Line: 1},
		{APIVersion: "acme.cert-manager.io/v1beta1", Kind: "Order", Name: "web-1", File: "tls.yaml", Line: 9},
		{APIVersion: "rbac.istio.io/v1alpha1", Kind: "ServiceRole", Name: "reader", File: "mesh.yaml", Line: 1},
		{APIVersion: "cert-manager.io/v1", Kind: "Certificate", Name: "api", File: "tls.yaml", Line: 20},
	}
	scan := func(addons map[string]rules.Version) []report.Finding {
		s := New(target)
		s.Addons = addons
		return s.Manifests(objs)
	}
	v := func(minor int) rules.Version { return rules.Version{Major: 1, Minor: minor} }
	for _, c := range []struct {
		name   string
		addons map[string]rules.Version
		want   []string // check severity blocks, per finding
	}{
		{"cert-manager 1.6", map[string]rules.Version{"cert-manager": v(6)}, []string{"removed-api error true", "removed-api error true", "deprecated-api warning false"}},
		{"cert-manager 1.5", map[string]rules.Version{"cert-manager": v(5), "istio": v(6)}, []string{"deprecated-api warning false", "deprecated-api warning false", "removed-api error true"}},
		{"cert-manager 1.3, istio 1.3", map[string]rules.Version{"cert-manager": v(3), "istio": v(3)}, nil},
		{"no add-on named", nil, []string{"deprecated-api warning false", "deprecated-api warning false", "deprecated-api warning false"}},
	} {
		var got []string
		for _, f := range scan(c.addons) {
			got = append(got, f.Check+" "+f.Severity+" "+map[bool]string{true: "true", false: "false"}[f.BlocksTarget])
		}
		if strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
	f := scan(nil)[0]
	if f.Component != "cert-manager" || f.RemovedIn != "1.6" || f.Replacement != "cert-manager.io/v1 Certificate" || !strings.Contains(f.Message, "--target cert-manager=VERSION") {
		t.Errorf("unnamed cert-manager finding %+v: want the add-on, its release 1.6, the replacement and how to name a release", f)
	}
	if f := scan(nil)[2]; f.Replacement != "security.istio.io/v1beta1 AuthorizationPolicy" {
		t.Errorf("istio ServiceRole's replacement %q: want the kind that replaced it", f.Replacement)
	}
	var table strings.Builder
	rep := &report.Report{Scan: "apis", Findings: scan(map[string]rules.Version{"cert-manager": v(6)})}
	rep.Finish()
	if err := rep.Write(&table, "table"); err != nil || !strings.Contains(table.String(), "cert-manager 1.4") || !strings.Contains(table.String(), "cert-manager 1.6") {
		t.Errorf("table %q (%v): want the releases named as cert-manager's", table.String(), err)
	}
}
