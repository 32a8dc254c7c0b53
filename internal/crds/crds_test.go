package crds_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/builtin"
	"upshift.dev/upshift/internal/crds"
	"upshift.dev/upshift/internal/fleet"
	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/plan"
	"upshift.dev/upshift/internal/testfleet"
	"upshift.dev/upshift/internal/toolchain"
	"upshift.dev/upshift/internal/yamlstream"
)

func TestMain(m *testing.M) {
	builtin.Register()
	testfleet.Main(m)
}

var resources = map[string]string{
	"UpdateRun": "updateruns", "UpdateStrategy": "updatestrategies", "Cluster": "clusters",
	"AutoUpgradeProfile": "autoupgradeprofiles", "ApprovalRequest": "approvalrequests",
	"UpdateRunMember": "updaterunmembers",
}

func gvr(kind string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: "upshift.dev", Version: "v1alpha1", Resource: resources[kind]}
}

// create sends one YAML document to the hub as is, refusing unknown fields
// as the CLI does.
func create(ctx context.Context, dyn dynamic.Interface, doc []byte) (*unstructured.Unstructured, error) {
	obj := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(doc, &obj.Object); err != nil {
		return nil, err
	}
	return dyn.Resource(gvr(obj.GetKind())).Namespace("default").Create(ctx, obj, metav1.CreateOptions{FieldValidation: "Strict"})
}

// TestCRDsOnARealAPIServer installs the CRDs on a real kube-apiserver, then
// sends it the very files the CLI reads (a run file, a fleet file, a
// profiles file, each parsed by the CLI's own parsers first): the API
// server takes every object unchanged. It refuses what the CLI would
// refuse (an unknown channel, a window under 4 hours, an unknown field),
// serves printer columns, and keeps status in its subresource.
func TestCRDsOnARealAPIServer(t *testing.T) {
	hub := testfleet.Up(t, localfleet.Spec{Name: "hub", KubernetesVersion: toolchain.Latest().Minor})
	cfg, err := clientcmd.BuildConfigFromFlags("", hub.KubeconfigPath())
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for range 2 { // installing again updates in place
		if err := crds.Install(ctx, cfg, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	all, err := crds.All()
	if err != nil || len(all) != len(resources) {
		t.Fatalf("%d CRDs, %v", len(all), err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}

	parsers := map[string]func(string, []byte) error{
		"run.yaml":      func(n string, d []byte) error { _, err := plan.Parse(n, d); return err },
		"fleet.yaml":    func(n string, d []byte) error { _, err := fleet.Parse(n, d); return err },
		"profiles.yaml": func(n string, d []byte) error { _, err := plan.ParseProfiles(n, d); return err },
	}
	created := 0
	for file, parse := range parsers {
		data, err := os.ReadFile(filepath.Join("testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		if err := parse(file, data); err != nil {
			t.Fatalf("the CLI refuses %s: %v", file, err)
		}
		err = yamlstream.Each(file, data, func(i int, doc []byte) error {
			if _, err := create(ctx, dyn, doc); err != nil {
				t.Errorf("%s document %d: the hub refuses it: %v", file, i, err)
			}
			created++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if created != 7 {
		t.Errorf("created %d objects, want 7", created)
	}

	for name, tc := range map[string]struct{ doc, want string }{
		"unknown channel":  {"apiVersion: upshift.dev/v1alpha1\nkind: AutoUpgradeProfile\nmetadata: {name: nightly}\nspec: {channel: Nightly}\n", `spec.channel: Unsupported value: "Nightly"`},
		"minor with patch": {"apiVersion: upshift.dev/v1alpha1\nkind: AutoUpgradeProfile\nmetadata: {name: p}\nspec: {channel: TargetKubernetesVersion, targetKubernetesVersion: \"1.36.2\"}\n", "spec.targetKubernetesVersion"},
		"short window":     {"apiVersion: upshift.dev/v1alpha1\nkind: Cluster\nmetadata: {name: c}\nspec: {provider: local, maintenanceWindow: {schedule: {daily: {intervalDays: 1}}, startTime: \"01:00\", durationHours: 2}}\n", "spec.maintenanceWindow.durationHours: Invalid value: 2: spec.maintenanceWindow.durationHours in body should be greater than or equal to 4"},
		"unknown field":    {"apiVersion: upshift.dev/v1alpha1\nkind: UpdateRun\nmetadata: {name: r}\nspec: {upgrade: {type: Full}, colour: red}\n", `unknown field "spec.colour"`},
		"unknown method":   {"apiVersion: upshift.dev/v1alpha1\nkind: UpdateRun\nmetadata: {name: r}\nspec: {method: Rolling, upgrade: {type: Full}}\n", `spec.method: Unsupported value: "Rolling"`},
		"approval key":     {"apiVersion: upshift.dev/v1alpha1\nkind: ApprovalRequest\nmetadata: {name: a}\nspec: {updateRun: r, key: \"stage/../x\"}\n", "spec.key"},
	} {
		if _, err := create(ctx, dyn, []byte(tc.doc)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", name, err, tc.want)
		}
	}

	// Status is a subresource: a spec update leaves it alone, and
	// `kubectl get updateruns` shows it in its columns.
	runs := dyn.Resource(gvr("UpdateRun")).Namespace("default")
	run, err := runs.Get(ctx, "fleet-to-1-37", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_ = unstructured.SetNestedField(run.Object, v1alpha1.PhaseRunning, "status", "phase")
	_ = unstructured.SetNestedField(run.Object, "3/7 clusters", "status", "progress")
	_ = unstructured.SetNestedSlice(run.Object, []any{map[string]any{"type": v1alpha1.ConditionReady, "status": "False", "reason": v1alpha1.PhaseRunning,
		"message": "run is Running", "lastTransitionTime": "2026-12-06T00:00:00Z"}}, "status", "conditions")
	if run, err = runs.UpdateStatus(ctx, run, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	_ = unstructured.SetNestedField(run.Object, v1alpha1.PhaseFailed, "status", "phase")
	_ = unstructured.SetNestedField(run.Object, v1alpha1.StateStop, "spec", "state")
	if _, err := runs.Update(ctx, run, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	client, err := hub.Client()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := client.CoreV1().RESTClient().Get().AbsPath("/apis/upshift.dev/v1alpha1/namespaces/default/updateruns").
		SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").DoRaw(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var table metav1.Table
	if err := json.Unmarshal(raw, &table); err != nil {
		t.Fatal(err)
	}
	var cols []string
	for _, c := range table.ColumnDefinitions {
		cols = append(cols, c.Name)
	}
	if strings.Join(cols, ",") != "Name,Phase,Progress,Ready,Method,Type,Kubernetes,Node image,Started,Age,Message" {
		t.Errorf("columns %v", cols)
	}
	if len(table.Rows) != 1 || table.Rows[0].Cells[1] != v1alpha1.PhaseRunning || table.Rows[0].Cells[2] != "3/7 clusters" || table.Rows[0].Cells[3] != "False" ||
		table.Rows[0].Cells[5] != "Full" || table.Rows[0].Cells[6] != "1.37" {
		t.Errorf("rows %+v (a spec update must not change status)", table.Rows)
	}

	// A run that started keeps its target; its state changes are checked.
	if run, err = runs.Get(ctx, "fleet-to-1-37", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	_ = unstructured.SetNestedField(run.Object, "2026-12-06T00:00:00Z", "status", "startTime")
	if _, err = runs.UpdateStatus(ctx, run, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	edit := func(what string, change func(*unstructured.Unstructured), want string) {
		t.Helper()
		cur, err := runs.Get(ctx, "fleet-to-1-37", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		change(cur)
		_, err = runs.Update(ctx, cur, metav1.UpdateOptions{})
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: refused: %v", what, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: got %v, want a refusal saying %q", what, err, want)
		}
	}
	set := func(value string, path ...string) func(*unstructured.Unstructured) {
		return func(u *unstructured.Unstructured) { _ = unstructured.SetNestedField(u.Object, value, path...) }
	}
	edit("a new target mid-run", set("1.38", "spec", "upgrade", "kubernetesVersion"), "a run that has started keeps its upgrade, method and strategyRef: cancel it (upshift cancel)")
	edit("a new method mid-run", set("BlueGreen", "spec", "method"), "a run that has started keeps its upgrade")
	edit("back to Initialize", set(v1alpha1.StateInitialize, "spec", "state"), "a run goes back to Initialize from no other state")
	edit("a cancel", set(v1alpha1.StateCancel, "spec", "state"), "")
	edit("a resume of a cancelled run", set(v1alpha1.StateRun, "spec", "state"), "a cancelled run cannot be resumed or stopped: only rolled back")
	edit("a rollback of a cancelled run", set(v1alpha1.StateRollback, "spec", "state"), "")
}
