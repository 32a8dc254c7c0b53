package gates

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/drainsim"
	"upshift.dev/upshift/internal/gates/gatespec"
	"upshift.dev/upshift/internal/nodes"
	"upshift.dev/upshift/internal/park"
	"upshift.dev/upshift/internal/tail"
)

// Target is the cluster a gate checks.
type Target struct {
	Cluster string
	// Blue and Green are a move's clusters (provider names), for the
	// placeholders of Prometheus queries.
	Blue, Green string
	// Run is the run's name, and Dir the folder Command gates run in
	// (the run file's; empty: the current folder).
	Run, Dir   string
	Kubeconfig string // path, for Command gates
	// Context of Kubeconfig the cluster is; empty: its current context.
	Context    string
	RESTConfig *rest.Config
	// NodeVersion, if set, is the kubelet version every node must report.
	NodeVersion string
	// Since is when the step began, so a restarted TimedWait does not start
	// over.
	Since time.Time
	// Waits, if set, keeps the step's gates' waits across drives: a soak
	// and an approval's timeout count from when each began, and a check
	// parked between its attempts goes on with its failures. Without it
	// waits count from Since, and checks never park.
	Waits Waits
	// TargetVersion is the run's target, for DeprecatedAPIs and Readiness.
	TargetVersion string
	// Simulate replays the cluster's node pool upgrades as the run will
	// do them (DrainSimulation); nil when the run upgrades no pool.
	Simulate func(ctx context.Context) []drainsim.Replay
}

// Waits keeps a step's gates' waits across drives (the engine: in the
// step's status).
type Waits interface {
	// Began is when gate began to wait; the first call records now.
	Began(gate string) time.Time
	// Checked is what a check parked between its attempts left: when its
	// first attempt was, how many failed, and when the next is due; ok
	// false when none.
	Checked(gate string) (since time.Time, failures int, next time.Time, ok bool)
	// Hold keeps a check's attempts while it is parked; Forget drops
	// what is kept of gate once it has passed or failed (a check), or was
	// given (an approval: the step then keeps only approvals that wait).
	Hold(gate string, since time.Time, failures int, next time.Time)
	Forget(gate string)
}

// began is when gate began to wait: the Waits' record, else Since, else
// now.
func (t Target) began(gate string) time.Time {
	switch {
	case t.Waits != nil:
		return t.Waits.Began(gate)
	case !t.Since.IsZero():
		return t.Since
	}
	return time.Now()
}

// Approvals answers whether key was approved, by whom and when.
type Approvals func(key string) (by string, at time.Time, ok bool)

// Result is a gate's outcome.
type Result struct {
	Attempts int
	Message  string
	Output   string // a Command gate's output, truncated
	// ApprovedBy and ApprovedAt record an Approval.
	ApprovedBy string
	ApprovedAt time.Time
}

// Defaults of gates that do not set them.
const (
	DefaultInterval         = 5 * time.Second
	DefaultTimeout          = 5 * time.Minute
	DefaultFailureThreshold = 3
	maxOutput               = 4096
)

// Failed is a gate that did not pass; retrying the run will not make it
// pass without a change.
type Failed struct {
	Gate   string
	Type   string // set by Run
	Result Result
}

func (f *Failed) Error() string {
	if f.Type != "" {
		return fmt.Sprintf("gate %s (%s): %s", f.Gate, f.Type, f.Result.Message)
	}
	return fmt.Sprintf("gate %s failed: %s", f.Gate, f.Result.Message)
}

// Permanent: a gate past its threshold is a verdict, not a passing fault;
// its own attempts already waited.
func (f *Failed) Permanent() bool { return true }

// Type is how one gate type runs: either Check, one attempt that Run
// retries at the gate's interval under its failure threshold and timeout,
// or Wait, which runs the whole gate itself (a soak, an approval, a series
// of measurements). Validate, if set, checks the fields the type needs
// (see gatespec).
type Type struct {
	Check    func(ctx context.Context, g v1alpha1.GateSpec, t Target, timeout time.Duration) (msg, output string, err error)
	Wait     func(ctx context.Context, g v1alpha1.GateSpec, t Target, w Waiting) (Result, error)
	Validate gatespec.Validator
}

// Waiting is what a Wait gate gets besides its spec and target.
type Waiting struct {
	Approvals   Approvals
	ApprovalKey string
	Interval    time.Duration
}

var types = map[string]Type{}

// Register adds a gate type: a new type is one package whose init calls
// Register. Registering a type twice, or with neither or both of Check
// and Wait, is a programming error.
func Register(name string, t Type) {
	if _, dup := types[name]; dup || (t.Check == nil) == (t.Wait == nil) {
		panic("gates: gate type " + name + " registered twice, or without exactly one of Check and Wait")
	}
	types[name] = t
	if t.Validate != nil {
		gatespec.Register(name, t.Validate)
	}
}

// The gate types of the API (their validation is gatespec's).
func init() {
	Register(v1alpha1.GateTimedWait, Type{Wait: func(ctx context.Context, g v1alpha1.GateSpec, t Target, _ Waiting) (Result, error) {
		return timedWait(ctx, g.Name, g.Duration.Duration, t.began(g.Name))
	}})
	Register(v1alpha1.GateApproval, Type{Wait: func(ctx context.Context, g v1alpha1.GateSpec, t Target, w Waiting) (Result, error) {
		// The step keeps only approvals that wait: one given is dropped.
		given := func(res Result, err error) (Result, error) {
			if err == nil && t.Waits != nil {
				t.Waits.Forget(g.Name)
			}
			return res, err
		}
		if by, at, ok := w.Approvals(w.ApprovalKey); ok {
			return given(approved(by, at), nil)
		}
		return given(waitApproval(ctx, w.Approvals, w.ApprovalKey, w.Interval, g.Timeout, t.began(g.Name)))
	}})
	Register(v1alpha1.GatePrometheus, Type{Wait: func(ctx context.Context, g v1alpha1.GateSpec, t Target, w Waiting) (Result, error) {
		return prometheus(ctx, g, t, w.Interval)
	}})
	Register(v1alpha1.GateHTTP, Type{Check: func(ctx context.Context, g v1alpha1.GateSpec, _ Target, _ time.Duration) (string, string, error) {
		msg, err := httpCheck(ctx, g.HTTP)
		return msg, "", err
	}})
	Register(v1alpha1.GateCommand, Type{Check: func(ctx context.Context, g v1alpha1.GateSpec, t Target, timeout time.Duration) (string, string, error) {
		return command(ctx, g.Command, t, timeout)
	}})
	Register(v1alpha1.GateKubernetesHealth, Type{Check: func(ctx context.Context, g v1alpha1.GateSpec, t Target, _ time.Duration) (string, string, error) {
		threshold := 2 * time.Minute
		if g.KubernetesHealth != nil && g.KubernetesHealth.PendingThreshold != nil {
			threshold = g.KubernetesHealth.PendingThreshold.Duration
		}
		msg, err := KubernetesHealth(ctx, t, threshold)
		return msg, "", err
	}})
	Register(v1alpha1.GateDeprecatedAPIs, Type{Check: func(ctx context.Context, _ v1alpha1.GateSpec, t Target, _ time.Duration) (string, string, error) {
		return deprecatedAPIs(ctx, t)
	}})
	Register(v1alpha1.GateDrainSimulation, Type{Check: func(ctx context.Context, _ v1alpha1.GateSpec, t Target, _ time.Duration) (string, string, error) {
		return drainSimulation(ctx, t)
	}})
	Register(v1alpha1.GateReadiness, Type{Check: func(ctx context.Context, g v1alpha1.GateSpec, t Target, _ time.Duration) (string, string, error) {
		return readinessGate(ctx, g.Readiness, t)
	}})
}

// Run evaluates a gate. approvalKey names the approval an Approval gate
// waits for.
func Run(ctx context.Context, g v1alpha1.GateSpec, t Target, approvals Approvals, approvalKey string) (Result, error) {
	interval, timeout, threshold := DefaultInterval, DefaultTimeout, DefaultFailureThreshold
	if g.Interval != nil {
		interval = g.Interval.Duration
	}
	if g.Timeout != nil {
		timeout = g.Timeout.Duration
	}
	if g.FailureThreshold > 0 {
		threshold = g.FailureThreshold
	}
	typ, ok := types[g.Type]
	if !ok {
		return Result{}, fmt.Errorf("unknown gate type %q (known: %s)", g.Type, strings.Join(slices.Sorted(maps.Keys(types)), ", "))
	}
	if typ.Wait != nil {
		return typ.Wait(ctx, g, t, Waiting{Approvals: approvals, ApprovalKey: approvalKey, Interval: interval})
	}
	return check(ctx, g, typ, t, interval, timeout, threshold)
}

// check runs a check gate's attempts at its interval until one passes,
// its failure threshold is reached or its timeout runs out. Where the
// driver allows it (package park) and the interval is longer than it
// allows, a failed attempt parks until the next one instead of sleeping:
// Target.Waits keeps the first attempt's time and the failures.
func check(ctx context.Context, g v1alpha1.GateSpec, typ Type, t Target, interval, timeout time.Duration, threshold int) (Result, error) {
	// Times to the microsecond, as a status keeps them (metav1.MicroTime):
	// a drive that reads them back parks until the same time.
	since, failures, next := time.Now().Truncate(time.Microsecond), 0, time.Time{}
	if t.Waits != nil {
		if s, n, at, ok := t.Waits.Checked(g.Name); ok {
			since, failures, next = s, n, at
		}
	}
	deadline := since.Add(timeout)
	res := Result{Attempts: failures}
	// parkTillNext parks until the next attempt where it may; nil: sleep.
	parkTillNext := func(last string) error {
		if t.Waits == nil {
			return nil
		}
		why := fmt.Sprintf("gate %s failed %d of %d attempt(s)%s; the next is at %s", g.Name, failures, threshold, last, next.UTC().Format(time.RFC3339))
		parked := park.Until(ctx, next, why)
		if parked != nil {
			t.Waits.Hold(g.Name, since, failures, next)
		}
		return parked
	}
	if wait := time.Until(next); wait > 0 { // driven again before it was due
		if parked := parkTillNext(""); parked != nil {
			return res, parked
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(wait):
		}
	}
	end := func(r Result, err error) (Result, error) {
		if t.Waits != nil && failures > 0 {
			t.Waits.Forget(g.Name)
		}
		return r, err
	}
	for {
		res.Attempts++
		msg, output, err := typ.Check(ctx, g, t, timeout)
		res.Output = output
		if err == nil {
			res.Message = msg
			return end(res, nil)
		}
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		failures++
		res.Message = err.Error()
		if failures >= threshold {
			res.Message = fmt.Sprintf("%d failed attempt(s), the threshold: %s", failures, err)
			return end(res, &Failed{Gate: g.Name, Type: g.Type, Result: res})
		}
		next = time.Now().Add(interval).Truncate(time.Microsecond)
		if next.After(deadline) {
			res.Message = fmt.Sprintf("did not pass within %s: %s", timeout, err)
			return end(res, &Failed{Gate: g.Name, Type: g.Type, Result: res})
		}
		if parked := parkTillNext(" (" + err.Error() + ")"); parked != nil {
			return res, parked
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(interval):
		}
	}
}

// timedWait waits until d after since (when the gate began to wait, so
// that a step driven again waits only what is left); where the driver
// allows it (package park), a long wait parks instead.
func timedWait(ctx context.Context, name string, d time.Duration, since time.Time) (Result, error) {
	until := since.Add(d)
	if err := park.Until(ctx, until, fmt.Sprintf("gate %s waits until %s", name, until.UTC().Format(time.RFC3339))); err != nil {
		return Result{}, err
	}
	remaining := time.Until(until)
	if remaining > 0 {
		select {
		case <-ctx.Done():
			return Result{}, ctx.Err()
		case <-time.After(remaining):
		}
	}
	return Result{Attempts: 1, Message: fmt.Sprintf("waited %s", d)}, nil
}

// waitApproval waits for the approval of key. Its timeout counts from
// since (when the gate began to wait), so that neither a resume nor a
// parked wait driven again starts it anew; where the driver allows it
// (package park), the wait parks instead of polling.
func waitApproval(ctx context.Context, approvals Approvals, key string, interval time.Duration, timeout *metav1.Duration, since time.Time) (Result, error) {
	var deadline time.Time
	if timeout != nil {
		deadline = since.Add(timeout.Duration)
	}
	interval = min(interval, time.Second)
	for first := true; ; first = false {
		if by, at, ok := approvals(key); ok {
			return approved(by, at), nil
		}
		if !deadline.IsZero() && time.Now().After(deadline) {
			return Result{Message: "not approved in time"}, &Failed{Gate: key, Result: Result{Message: "no approval within " + timeout.Duration.String()}}
		}
		if first {
			if err := park.ForChange(ctx, deadline, "waiting for the approval of "+key); err != nil {
				return Result{}, err
			}
		}
		select {
		case <-ctx.Done():
			return Result{}, ctx.Err()
		case <-time.After(interval):
		}
	}
}

func approved(by string, at time.Time) Result {
	return Result{Attempts: 1, Message: "approved by " + by, ApprovedBy: by, ApprovedAt: at}
}

var httpClient = &http.Client{Timeout: 10 * time.Second}

func httpCheck(ctx context.Context, h *v1alpha1.HTTPGate) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.URL, nil)
	if err != nil {
		return "", fmt.Errorf("bad URL %q: %w", h.URL, err)
	}
	what := "GET " + h.URL
	if h.Host != "" {
		req.Host = h.Host
		what += " (Host " + h.Host + ")"
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	want := h.ExpectedStatus
	if want == 0 {
		want = http.StatusOK
	}
	if resp.StatusCode != want {
		return "", fmt.Errorf("%s answered %d, want %d", what, resp.StatusCode, want)
	}
	if h.BodyContains != "" && !strings.Contains(string(body), h.BodyContains) {
		return "", fmt.Errorf("%s: body does not contain %q", what, h.BodyContains)
	}
	return fmt.Sprintf("%s answered %d", what, resp.StatusCode), nil
}

func command(ctx context.Context, c *v1alpha1.CommandGate, t Target, timeout time.Duration) (string, string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.Command[0], c.Command[1:]...)
	cmd.Dir = t.Dir // a relative command (./e2e.sh) is found there too
	kubeconfig, cleanup, err := kubeconfigFor(t)
	if err != nil {
		return "", "", err
	}
	defer cleanup()
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig, "UPSHIFT_CLUSTER="+t.Cluster, "UPSHIFT_RUN="+t.Run, "UPSHIFT_TARGET_VERSION="+t.TargetVersion)
	out := &tail.Buffer{Max: maxOutput}
	cmd.Stdout, cmd.Stderr = out, out
	// On timeout, kill the script and everything it started: a child that
	// keeps the output open would otherwise hold the gate.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	err = cmd.Run()
	output := out.String()
	if err != nil {
		if ctx.Err() != nil {
			return "", output, fmt.Errorf("%s did not finish within %s", c.Command[0], timeout)
		}
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return "", output, fmt.Errorf("%s exited %d", c.Command[0], exit.ExitCode())
		}
		return "", output, fmt.Errorf("running %s: %w", c.Command[0], err)
	}
	return c.Command[0] + " exited 0", output, nil
}

// kubeconfigFor is the kubeconfig a Command gate gets: the member's, or,
// when the member is one context of a kubeconfig with several, a private
// copy (0600, removed after) whose current context is the member's, so
// kubectl in the script reaches the cluster the gate is for.
func kubeconfigFor(t Target) (string, func(), error) {
	if t.Context == "" {
		return t.Kubeconfig, func() {}, nil
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = t.Kubeconfig
	cfg, err := rules.Load()
	if err != nil {
		return "", nil, fmt.Errorf("loading the kubeconfig for the gate: %w", err)
	}
	if _, ok := cfg.Contexts[t.Context]; !ok {
		return "", nil, fmt.Errorf("the kubeconfig has no context %q", t.Context)
	}
	cfg.CurrentContext = t.Context
	f, err := os.CreateTemp("", "upshift-gate-kubeconfig-*")
	if err != nil {
		return "", nil, err
	}
	f.Close()
	cleanup := func() { os.Remove(f.Name()) }
	if err := clientcmd.WriteToFile(*cfg, f.Name()); err != nil {
		cleanup()
		return "", nil, err
	}
	return f.Name(), cleanup, nil
}

// KubernetesHealth checks the API server, nodes (Ready, and at the target
// kubelet version if one is set), Deployments, StatefulSets and DaemonSets
// (available), and pods (none crash-looping, none Pending past threshold).
func KubernetesHealth(ctx context.Context, t Target, pendingThreshold time.Duration) (string, error) {
	client, err := kubernetes.NewForConfig(t.RESTConfig)
	if err != nil {
		return "", err
	}
	if _, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx); err != nil {
		return "", fmt.Errorf("API server /readyz: %w", err)
	}
	var problems []string
	nodeList, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", err
	}
	for i := range nodeList.Items {
		n := &nodeList.Items[i]
		if !nodes.Ready(n) {
			problems = append(problems, "node "+n.Name+" is not Ready")
		}
		if t.NodeVersion != "" && n.Status.NodeInfo.KubeletVersion != t.NodeVersion {
			problems = append(problems, fmt.Sprintf("node %s runs %s, not %s", n.Name, n.Status.NodeInfo.KubeletVersion, t.NodeVersion))
		}
	}
	deps, err := client.AppsV1().Deployments("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", err
	}
	for _, d := range deps.Items {
		want := int32(1)
		if d.Spec.Replicas != nil {
			want = *d.Spec.Replicas
		}
		if d.Status.AvailableReplicas < want {
			problems = append(problems, fmt.Sprintf("deployment %s/%s: %d of %d available", d.Namespace, d.Name, d.Status.AvailableReplicas, want))
		}
	}
	sts, err := client.AppsV1().StatefulSets("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", err
	}
	for _, s := range sts.Items {
		want := int32(1)
		if s.Spec.Replicas != nil {
			want = *s.Spec.Replicas
		}
		if s.Status.ReadyReplicas < want {
			problems = append(problems, fmt.Sprintf("statefulset %s/%s: %d of %d ready", s.Namespace, s.Name, s.Status.ReadyReplicas, want))
		}
	}
	dss, err := client.AppsV1().DaemonSets("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", err
	}
	for _, d := range dss.Items {
		if d.Status.NumberAvailable < d.Status.DesiredNumberScheduled {
			problems = append(problems, fmt.Sprintf("daemonset %s/%s: %d of %d available", d.Namespace, d.Name, d.Status.NumberAvailable, d.Status.DesiredNumberScheduled))
		}
	}
	pods, err := client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", err
	}
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodPending && time.Since(p.CreationTimestamp.Time) > pendingThreshold {
			problems = append(problems, fmt.Sprintf("pod %s/%s Pending for %s", p.Namespace, p.Name, time.Since(p.CreationTimestamp.Time).Round(time.Second)))
		}
		for _, cs := range p.Status.ContainerStatuses {
			if cs.State.Waiting != nil && cs.State.Waiting.Reason == "CrashLoopBackOff" {
				problems = append(problems, fmt.Sprintf("pod %s/%s container %s is crash-looping", p.Namespace, p.Name, cs.Name))
			}
		}
	}
	if len(problems) > 0 {
		if len(problems) > 5 {
			problems = append(problems[:5], fmt.Sprintf("and %d more", len(problems)-5))
		}
		return "", errors.New(strings.Join(problems, "; "))
	}
	return fmt.Sprintf("%d nodes Ready, %d deployments, %d statefulsets, %d daemonsets available", len(nodeList.Items), len(deps.Items), len(sts.Items), len(dss.Items)), nil
}
