package apis

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"

	"upshift.dev/upshift/internal/scan/manifest"
	"upshift.dev/upshift/internal/scan/report"
	"upshift.dev/upshift/internal/scan/rules"
)

// lastApplied is the annotation kubectl apply (client-side) writes.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// Confidence of live findings.
const (
	ConfidenceHigh   = "high"
	ConfidenceMedium = "medium"
	ConfidenceLow    = "low"
)

// skipResources hold no deployed objects: events would only cost time, and
// listing componentstatuses (deprecated) would feed the very metric we read.
// v1 endpoints are deprecated since 1.33 and mirrored by EndpointSlices.
var skipResources = map[string]bool{"events": true, "componentstatuses": true, "endpoints": true}

// Cluster scans a live cluster. Objects are read as metadata only (their
// annotations and managedFields), so large clusters stay cheap. Errors of
// single sources are returned beside the findings; the scan goes on.
func (s *Scanner) Cluster(ctx context.Context, cluster string, cfg *rest.Config) ([]report.Finding, []error) {
	var findings []report.Finding
	var errs []error
	cfg = rest.CopyConfig(cfg)
	cfg.WarningHandler = rest.NoWarnings{}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, []error{err}
	}
	if _, err := client.Discovery().ServerVersion(); err != nil {
		return nil, []error{fmt.Errorf("cluster %s is unreachable: %w (check --kubeconfig and --context)", cluster, err)}
	}
	objs, err := s.objects(ctx, cluster, cfg, client.Discovery())
	findings = append(findings, objs...)
	if err != nil {
		errs = append(errs, err)
	}
	helm, err := s.helmReleases(ctx, cluster, client)
	findings = append(findings, helm...)
	if err != nil {
		errs = append(errs, err)
	}
	requested, err := s.requestedDeprecated(ctx, cluster, client)
	findings = append(findings, requested...)
	if err != nil {
		errs = append(errs, err)
	}
	return findings, errs
}

// objects looks at every listable resource's objects.
func (s *Scanner) objects(ctx context.Context, cluster string, cfg *rest.Config, disco discovery.DiscoveryInterface) ([]report.Finding, error) {
	lists, err := disco.ServerPreferredResources()
	var errs []error
	if err != nil {
		// Partial discovery (an aggregated API down) still lists the rest.
		errs = append(errs, fmt.Errorf("cluster %s: discovery: %w", cluster, err))
	}
	meta, err := metadata.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	var out []report.Finding
	for _, list := range lists {
		gv, err := schema.ParseGroupVersion(list.GroupVersion)
		if err != nil {
			continue
		}
		for _, res := range list.APIResources {
			if strings.Contains(res.Name, "/") || skipResources[res.Name] || !hasVerb(res.Verbs, "list") {
				continue
			}
			gvr := gv.WithResource(res.Name)
			opts := metav1.ListOptions{Limit: 500}
			for {
				page, err := meta.Resource(gvr).List(ctx, opts)
				if err != nil {
					errs = append(errs, fmt.Errorf("cluster %s: listing %s: %w", cluster, gvr, err))
					break
				}
				for i := range page.Items {
					out = append(out, s.object(cluster, res.Kind, &page.Items[i].ObjectMeta)...)
				}
				if page.Continue == "" {
					break
				}
				opts.Continue = page.Continue
			}
		}
	}
	return out, errors.Join(errs...)
}

func hasVerb(verbs []string, verb string) bool {
	for _, v := range verbs {
		if v == verb {
			return true
		}
	}
	return false
}

// object finds the deprecated API versions an object was written with, and
// how sure that is.
//
// The last-applied-configuration annotation tells what `kubectl apply` last
// sent, but it goes stale when the object is since written another way
// (server-side apply, an edit, a controller). managedFields record the API
// version of each manager's last write with its time, so they settle it: the
// annotation is trusted when the manager that wrote it used that version and
// nobody wrote the object with a served version since.
func (s *Scanner) object(cluster, kind string, m *metav1.ObjectMeta) []report.Finding {
	type candidate struct {
		finding report.Finding
		how     []string
	}
	found := map[string]*candidate{} // by apiVersion
	newest := newestWrite(m.ManagedFields)

	if raw, ok := m.Annotations[lastApplied]; ok {
		var applied struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if json.Unmarshal([]byte(raw), &applied) == nil && applied.APIVersion != "" {
			if applied.Kind == "" {
				applied.Kind = kind
			}
			if f, ok := s.classify(applied.APIVersion, applied.Kind); ok {
				owner := annotationOwner(m.ManagedFields)
				switch {
				case owner == nil:
					f.Confidence = ConfidenceMedium + ": no managedFields say who wrote the annotation"
				case newest != nil && newest.APIVersion != applied.APIVersion && s.served(newest.APIVersion, applied.Kind) && newest.Time != nil && owner.Time != nil && newest.Time.After(owner.Time.Time):
					f.Confidence = fmt.Sprintf("%s: stale annotation? %s wrote the object with %s at %s, after the last apply",
						ConfidenceLow, newest.Manager, newest.APIVersion, newest.Time.UTC().Format("2006-01-02T15:04:05Z"))
					f.BlocksTarget = false
				case owner.APIVersion == applied.APIVersion:
					f.Confidence = ConfidenceHigh + ": managedFields agree (" + owner.Manager + ")"
				default:
					f.Confidence = ConfidenceMedium + ": the applying manager (" + owner.Manager + ") last wrote " + owner.APIVersion
				}
				found[applied.APIVersion] = &candidate{finding: f, how: []string{"last-applied-configuration"}}
			}
		}
	}
	for _, mf := range m.ManagedFields {
		f, ok := s.classify(mf.APIVersion, kind)
		if !ok {
			continue
		}
		if c, seen := found[mf.APIVersion]; seen {
			c.how = appendUnique(c.how, "managedFields ("+mf.Manager+")")
			continue
		}
		switch {
		case newest == nil || newest.Manager == mf.Manager && newest.APIVersion == mf.APIVersion:
			f.Confidence = ConfidenceHigh + ": the latest write used it (" + mf.Manager + ")"
		default:
			f.Confidence = ConfidenceMedium + ": " + mf.Manager + " last wrote it with this version; its next write will fail"
		}
		found[mf.APIVersion] = &candidate{finding: f, how: []string{"managedFields (" + mf.Manager + ")"}}
	}
	var out []report.Finding
	for _, c := range found {
		f := c.finding
		f.Cluster, f.Name, f.Namespace, f.Kind = cluster, m.Name, m.Namespace, kind
		f.Source = strings.Join(c.how, " + ")
		if strings.HasPrefix(f.Confidence, ConfidenceLow) {
			f.Severity = report.SeverityInfo
		}
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].APIVersion < out[j].APIVersion })
	return out
}

// served reports whether the target still serves an API version of a kind.
func (s *Scanner) served(apiVersion, kind string) bool {
	_, deprecatedOrRemoved := s.classify(apiVersion, kind)
	return !deprecatedOrRemoved
}

func newestWrite(fields []metav1.ManagedFieldsEntry) *metav1.ManagedFieldsEntry {
	var newest *metav1.ManagedFieldsEntry
	for i := range fields {
		f := &fields[i]
		if f.Subresource != "" || f.Time == nil {
			continue
		}
		if newest == nil || f.Time.After(newest.Time.Time) {
			newest = f
		}
	}
	return newest
}

// annotationOwner is the managedFields entry that owns the last-applied
// annotation.
func annotationOwner(fields []metav1.ManagedFieldsEntry) *metav1.ManagedFieldsEntry {
	for i := range fields {
		f := &fields[i]
		if f.FieldsV1 != nil && bytes.Contains(f.FieldsV1.GetRawBytes(), []byte(`"f:`+lastApplied+`"`)) {
			return f
		}
	}
	return nil
}

func appendUnique(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

// helmRelease is the part of a Helm 3 release record we read.
type helmRelease struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	Version   int    `json:"version"`
	Manifest  string `json:"manifest"`
	Chart     struct {
		Metadata struct {
			Name    string `json:"name"`
			Version string `json:"version"`
		} `json:"metadata"`
	} `json:"chart"`
	Info struct {
		Status string `json:"status"`
	} `json:"info"`
}

// helmReleases scans the rendered manifests of the latest deployed revision
// of every Helm 3 release (Secrets, the default driver, and ConfigMaps).
func (s *Scanner) helmReleases(ctx context.Context, cluster string, client kubernetes.Interface) ([]report.Finding, error) {
	type record struct {
		namespace, name, status string
		revision                int
		data                    []byte
	}
	var records []record
	secrets, err := client.CoreV1().Secrets(metav1.NamespaceAll).List(ctx, metav1.ListOptions{LabelSelector: "owner=helm"})
	if err != nil {
		return nil, fmt.Errorf("cluster %s: listing Helm release secrets: %w", cluster, err)
	}
	for _, sec := range secrets.Items {
		if sec.Type != corev1.SecretType("helm.sh/release.v1") {
			continue
		}
		rev, _ := strconv.Atoi(sec.Labels["version"])
		records = append(records, record{sec.Namespace, sec.Labels["name"], sec.Labels["status"], rev, sec.Data["release"]})
	}
	cms, err := client.CoreV1().ConfigMaps(metav1.NamespaceAll).List(ctx, metav1.ListOptions{LabelSelector: "owner=helm"})
	if err != nil {
		return nil, fmt.Errorf("cluster %s: listing Helm release config maps: %w", cluster, err)
	}
	for _, cm := range cms.Items {
		rev, _ := strconv.Atoi(cm.Labels["version"])
		records = append(records, record{cm.Namespace, cm.Labels["name"], cm.Labels["status"], rev, []byte(cm.Data["release"])})
	}
	// The latest deployed revision of each release; older revisions are
	// history, not what runs.
	latest := map[string]record{}
	for _, r := range records {
		if r.status != "deployed" {
			continue
		}
		key := r.namespace + "/" + r.name
		if cur, ok := latest[key]; !ok || r.revision > cur.revision {
			latest[key] = r
		}
	}
	var out []report.Finding
	var errs []error
	for key, r := range latest {
		rel, err := DecodeHelmRelease(r.data)
		if err != nil {
			errs = append(errs, fmt.Errorf("cluster %s: Helm release %s revision %d: %w", cluster, key, r.revision, err))
			continue
		}
		source := fmt.Sprintf("helm release %s revision %d (chart %s-%s)", key, r.revision, rel.Chart.Metadata.Name, rel.Chart.Metadata.Version)
		objs, _ := manifest.Read(source, []byte(rel.Manifest))
		for _, f := range s.Manifests(objs) {
			f.Cluster, f.Source, f.File, f.Line = cluster, source, "", 0
			if f.Namespace == "" {
				f.Namespace = r.namespace
			}
			f.Confidence = ConfidenceHigh + ": the deployed chart renders it"
			f.Fix += "; upgrade the chart (helm-mapkubeapis rewrites the stored release)"
			out = append(out, f)
		}
	}
	return out, errors.Join(errs...)
}

// DecodeHelmRelease reads a Helm 3 release record: base64 of gzipped JSON.
func DecodeHelmRelease(data []byte) (*helmRelease, error) {
	raw, err := base64.StdEncoding.DecodeString(string(data))
	if err != nil {
		return nil, fmt.Errorf("release record is not base64: %w", err)
	}
	if len(raw) > 2 && raw[0] == 0x1f && raw[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, err
		}
		if raw, err = io.ReadAll(io.LimitReader(zr, 256<<20)); err != nil {
			return nil, fmt.Errorf("release record does not gunzip: %w", err)
		}
	}
	var rel helmRelease
	if err := json.Unmarshal(raw, &rel); err != nil {
		return nil, fmt.Errorf("release record is not JSON: %w", err)
	}
	return &rel, nil
}

// EncodeHelmRelease writes a release record the way Helm 3 does; tests and
// fixtures use it.
func EncodeHelmRelease(name, namespace string, revision int, chart, chartVersion, manifest string) ([]byte, error) {
	var rel helmRelease
	rel.Name, rel.Namespace, rel.Version, rel.Manifest = name, namespace, revision, manifest
	rel.Chart.Metadata.Name, rel.Chart.Metadata.Version = chart, chartVersion
	rel.Info.Status = "deployed"
	js, err := json.Marshal(rel)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(js); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return []byte(base64.StdEncoding.EncodeToString(buf.Bytes())), nil
}

// requestedDeprecated reads apiserver_requested_deprecated_apis: which
// deprecated APIs clients actually called since the API server started.
func (s *Scanner) requestedDeprecated(ctx context.Context, cluster string, client kubernetes.Interface) ([]report.Finding, error) {
	raw, err := client.Discovery().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: reading the API server's metrics (needs get on /metrics): %w", cluster, err)
	}
	return s.RequestedFromMetrics(cluster, raw)
}

// RequestedFromMetrics turns the metric's series into findings.
func (s *Scanner) RequestedFromMetrics(cluster string, metrics []byte) ([]report.Finding, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(metrics))
	if err != nil {
		return nil, fmt.Errorf("cluster %s: parsing API server metrics: %w", cluster, err)
	}
	fam, ok := families["apiserver_requested_deprecated_apis"]
	if !ok {
		return nil, nil
	}
	var out []report.Finding
	for _, m := range fam.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		gvr := schema.GroupVersionResource{Group: labels["group"], Version: labels["version"], Resource: labels["resource"]}
		kind := gvr.Resource
		apiVersion := gvr.GroupVersion().String()
		f, ok := report.Finding{}, false
		if r, found := s.Rules.LookupResource(gvr); found {
			kind = r.GVK.Kind
			f, ok = s.classify(apiVersion, kind)
		}
		if !ok {
			f = report.Finding{Check: CheckDeprecated, Severity: report.SeverityInfo, Kind: kind, APIVersion: apiVersion, Fix: "move the clients to a served version"}
			f.Message = fmt.Sprintf("clients call %s %s, which the API server marks deprecated; no removal is scheduled", apiVersion, gvr.Resource)
			if removed, err := rules.ParseVersion(labels["removed_release"]); err == nil {
				f.RemovedIn = removed.String()
				f.Severity = report.SeverityWarning
				f.Message = fmt.Sprintf("clients call %s %s, which the API server marks deprecated and removes in %s", apiVersion, gvr.Resource, removed)
				if removed.MinorAtOrBefore(s.Target) {
					f.Check, f.Severity, f.BlocksTarget = CheckRemoved, report.SeverityError, true
				}
			}
		}
		f.Cluster, f.Name = cluster, "(requests)"
		f.Source = "apiserver_requested_deprecated_apis: a client called it since the API server started"
		f.Confidence = ConfidenceHigh + ": the API server counted the calls; find the client in the audit log"
		out = append(out, f)
	}
	return out, nil
}
