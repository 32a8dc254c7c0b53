package gates

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/gates/gatespec"
)

func fast(g v1alpha1.GateSpec) v1alpha1.GateSpec {
	g.Interval = &metav1.Duration{Duration: 10 * time.Millisecond}
	return g
}

func TestHTTPGate(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		if r.Host != "shop.example" {
			http.Error(w, "wrong host", http.StatusNotFound)
			return
		}
		if n < 3 {
			http.Error(w, "warming up", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("cluster=green ok"))
	}))
	defer srv.Close()
	g := fast(v1alpha1.GateSpec{Name: "site", Type: v1alpha1.GateHTTP, FailureThreshold: 5, HTTP: &v1alpha1.HTTPGate{URL: srv.URL, Host: "shop.example", BodyContains: "green"}})
	res, err := Run(context.Background(), g, Target{}, nil, "")
	if err != nil || res.Attempts != 3 {
		t.Fatalf("HTTP gate passing on the third attempt: %+v, %v", res, err)
	}
	calls.Store(0)
	g.FailureThreshold = 2
	_, err = Run(context.Background(), g, Target{}, nil, "")
	var failed *Failed
	if !errors.As(err, &failed) || !strings.Contains(err.Error(), "2 failed attempt(s)") || !strings.Contains(err.Error(), "answered 503") {
		t.Errorf("HTTP gate under its threshold: %v", err)
	}
	g.HTTP.BodyContains = "blue"
	g.FailureThreshold = 1
	calls.Store(10)
	if _, err := Run(context.Background(), g, Target{}, nil, ""); err == nil || !strings.Contains(err.Error(), `does not contain "blue"`) {
		t.Errorf("body mismatch: %v", err)
	}
}

func TestCommandGate(t *testing.T) {
	g := fast(v1alpha1.GateSpec{Name: "e2e", Type: v1alpha1.GateCommand, FailureThreshold: 1,
		Command: &v1alpha1.CommandGate{Command: []string{"sh", "-c", `echo "$UPSHIFT_CLUSTER $KUBECONFIG"; exit 4`}}})
	res, err := Run(context.Background(), g, Target{Cluster: "prod", Kubeconfig: "/k"}, nil, "")
	if err == nil || !strings.Contains(err.Error(), "exited 4") || strings.TrimSpace(res.Output) != "prod /k" {
		t.Errorf("failing command: %+v, %v", res, err)
	}
	g.Command.Command = []string{"sh", "-c", "sleep 5"}
	g.Timeout = &metav1.Duration{Duration: 100 * time.Millisecond}
	start := time.Now()
	if _, err := Run(context.Background(), g, Target{}, nil, ""); err == nil || time.Since(start) > 3*time.Second {
		t.Errorf("a command past its timeout: %v after %s", err, time.Since(start))
	}
}

func TestTimedWaitResumes(t *testing.T) {
	g := v1alpha1.GateSpec{Name: "soak", Type: v1alpha1.GateTimedWait, Duration: &metav1.Duration{Duration: time.Hour}}
	start := time.Now()
	// A wait that began an hour ago is over.
	if _, err := Run(context.Background(), g, Target{Since: time.Now().Add(-time.Hour)}, nil, ""); err != nil || time.Since(start) > time.Second {
		t.Errorf("resumed wait: %v after %s", err, time.Since(start))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := Run(ctx, g, Target{Since: time.Now()}, nil, ""); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("cancelled wait: %v", err)
	}
}

func TestApprovalGate(t *testing.T) {
	var approved atomic.Bool
	approvals := func(key string) (string, time.Time, bool) {
		if key == "stage/prod" && approved.Load() {
			return "alice", time.Unix(1, 0), true
		}
		return "", time.Time{}, false
	}
	go func() { time.Sleep(100 * time.Millisecond); approved.Store(true) }()
	g := fast(v1alpha1.GateSpec{Name: "sign-off", Type: v1alpha1.GateApproval})
	res, err := Run(context.Background(), g, Target{}, approvals, "stage/prod")
	if err != nil || res.ApprovedBy != "alice" {
		t.Fatalf("approval: %+v, %v", res, err)
	}
	g.Timeout = &metav1.Duration{Duration: 50 * time.Millisecond}
	if _, err := Run(context.Background(), g, Target{}, approvals, "stage/other"); err == nil {
		t.Error("an approval that never comes passed")
	}
}

// TestCommandGateFolderAndOutput: a relative command runs from the run
// file's folder whatever folder upshift runs in, with the documented
// environment, and a flood of output keeps only its tail.
func TestCommandGateFolderAndOutput(t *testing.T) {
	dir := t.TempDir()
	script := "#!/bin/sh\necho \"in $(pwd) for $UPSHIFT_RUN/$UPSHIFT_CLUSTER to $UPSHIFT_TARGET_VERSION\"\n"
	if err := os.WriteFile(filepath.Join(dir, "e2e.sh"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	g := fast(v1alpha1.GateSpec{Name: "e2e", Type: v1alpha1.GateCommand, FailureThreshold: 1, Command: &v1alpha1.CommandGate{Command: []string{"./e2e.sh"}}})
	res, err := Run(context.Background(), g, Target{Cluster: "prod", Run: "r1", Dir: dir, TargetVersion: "1.35"}, nil, "")
	if want := "in " + dir + " for r1/prod to 1.35"; err != nil || strings.TrimSpace(res.Output) != want {
		t.Errorf("./e2e.sh from the run file's folder: %q, %v; want %q", res.Output, err, want)
	}
	g.Command.Command = []string{"sh", "-c", "head -c 10000000 /dev/zero | tr '\\0' x; echo END"}
	res, err = Run(context.Background(), g, Target{}, nil, "")
	if err != nil || len(res.Output) > maxOutput+8 || !strings.HasSuffix(strings.TrimSpace(res.Output), "END") || !strings.HasPrefix(res.Output, "…") {
		t.Errorf("10 MB of output: kept %d bytes, ends %q, err %v; want the last %d bytes", len(res.Output), res.Output[max(0, len(res.Output)-10):], err, maxOutput)
	}
}

// TestCommandGateContext: a cluster that is one context of a kubeconfig
// with several gets a Command gate whose KUBECONFIG's current context is
// that cluster's, in a private copy removed afterwards; the user's file is
// not touched.
func TestCommandGateContext(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "kubeconfig")
	kc := `apiVersion: v1
kind: Config
current-context: prod
clusters:
- {name: prod, cluster: {server: "https://prod.example:6443"}}
- {name: staging, cluster: {server: "https://staging.example:6443"}}
contexts:
- {name: prod, context: {cluster: prod, user: u}}
- {name: staging, context: {cluster: staging, user: u}}
users:
- {name: u, user: {token: not-a-secret}}
`
	if err := os.WriteFile(path, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	g := fast(v1alpha1.GateSpec{Name: "ctx", Type: v1alpha1.GateCommand, FailureThreshold: 1,
		Command: &v1alpha1.CommandGate{Command: []string{"sh", "-c", `echo "$KUBECONFIG"; grep current-context "$KUBECONFIG"`}}})
	res, err := Run(context.Background(), g, Target{Cluster: "staging", Kubeconfig: path, Context: "staging"}, nil, "")
	lines := strings.Split(strings.TrimSpace(res.Output), "\n")
	if err != nil || len(lines) != 2 || lines[0] == path || strings.TrimSpace(lines[1]) != "current-context: staging" {
		t.Fatalf("gate output %q, %v; want a copy whose current context is staging", res.Output, err)
	}
	if _, err := os.Stat(lines[0]); !os.IsNotExist(err) {
		t.Errorf("the gate's kubeconfig copy %s was left behind", lines[0])
	}
	if data, _ := os.ReadFile(path); string(data) != kc {
		t.Error("the user's kubeconfig was changed")
	}
	_, err = Run(context.Background(), g, Target{Cluster: "x", Kubeconfig: path, Context: "nope"}, nil, "")
	if err == nil || !strings.Contains(err.Error(), `no context "nope"`) {
		t.Errorf("a context that is not there: %v", err)
	}
}

// TestRegisteredType: a gate type added with Register is validated by
// gatespec (its own checks and the common ones) and run by Run with the
// common retries; an unknown type is refused by both, naming the known.
func TestRegisteredType(t *testing.T) {
	var attempts atomic.Int32
	Register("TestQuorum", Type{
		Check: func(_ context.Context, g v1alpha1.GateSpec, target Target, _ time.Duration) (string, string, error) {
			if attempts.Add(1) < 2 {
				return "", "", errors.New("1 of 3 members agree")
			}
			return "3 of 3 members agree on " + target.Cluster, "", nil
		},
		Validate: func(p *field.Path, g *v1alpha1.GateSpec) field.ErrorList {
			if g.Duration == nil {
				return field.ErrorList{field.Required(p.Child("duration"), "a TestQuorum gate needs a duration")}
			}
			return nil
		},
	})
	g := fast(v1alpha1.GateSpec{Name: "quorum", Type: "TestQuorum", Duration: &metav1.Duration{Duration: time.Second}})
	if errs := gatespec.Validate(field.NewPath("gate"), &g); len(errs) != 0 {
		t.Fatalf("a registered type is refused: %v", errs)
	}
	bad := v1alpha1.GateSpec{Name: "quorum", Type: "TestQuorum", Interval: &metav1.Duration{Duration: -time.Second}}
	if errs := gatespec.Validate(field.NewPath("gate"), &bad); len(errs) != 2 || !strings.Contains(errs.ToAggregate().Error(), "gate.duration") || !strings.Contains(errs.ToAggregate().Error(), "gate.interval") {
		t.Errorf("its own and the common checks: %v", errs)
	}
	res, err := Run(t.Context(), g, Target{Cluster: "prod-1"}, nil, "")
	if err != nil || res.Attempts != 2 || res.Message != "3 of 3 members agree on prod-1" {
		t.Errorf("run: %+v, %v; want it passed on the second attempt", res, err)
	}
	unknown := v1alpha1.GateSpec{Name: "x", Type: "Quorum"}
	if errs := gatespec.Validate(field.NewPath("gate"), &unknown); len(errs) != 1 || !strings.Contains(errs[0].Error(), `"TestQuorum"`) || !strings.Contains(errs[0].Error(), `"HTTP"`) {
		t.Errorf("unknown type: %v, want it refused naming the known types", errs)
	}
	if _, err := Run(t.Context(), unknown, Target{}, nil, ""); err == nil || !strings.Contains(err.Error(), "TestQuorum") {
		t.Errorf("running an unknown type: %v", err)
	}
}
