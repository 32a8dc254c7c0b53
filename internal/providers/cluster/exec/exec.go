package exec

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	osexec "os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"upshift.dev/upshift/internal/kubeversion"
	"upshift.dev/upshift/internal/nodepool"
	"upshift.dev/upshift/internal/providers/cluster"
	"upshift.dev/upshift/internal/tail"
	"upshift.dev/upshift/internal/transient"
)

// APIVersion names the contract's version in every request.
const APIVersion = "upshift.dev/exec/v1"

// Exit codes of the contract besides 0 (done) and the rest (failed).
const (
	// ExitNotFound: the cluster does not exist (get, delete).
	ExitNotFound = 3
	// ExitRetry: a passing fault (a throttled API, a lost connection);
	// upshift runs the operation again within the run's
	// failurePolicy.transientErrorTimeout (EX_TEMPFAIL).
	ExitRetry = 75
)

// DefaultTimeouts bound each operation unless the Cluster's
// spec.exec.timeouts says otherwise.
var DefaultTimeouts = map[string]time.Duration{
	cluster.OpGet:                 2 * time.Minute,
	cluster.OpVersions:            2 * time.Minute,
	cluster.OpUpgradeControlPlane: time.Hour,
	cluster.OpUpgradeNodePool:     3 * time.Hour,
	cluster.OpCreate:              time.Hour,
	cluster.OpDelete:              30 * time.Minute,
}

// maxStdout bounds an answer; maxStderr is how much of the end of stderr
// a failure shows.
const (
	maxStdout = 4 << 20
	maxStderr = 4 << 10
)

// Request is what the command gets on stdin, for every operation.
type Request struct {
	APIVersion string `json:"apiVersion"`
	Operation  string `json:"operation"`
	// Cluster is the platform's name of the cluster (for create, the
	// new cluster's).
	Cluster string `json:"cluster"`
	// KubernetesVersion is the control plane's target
	// (upgrade-control-plane).
	KubernetesVersion string `json:"kubernetesVersion,omitempty"`
	// Pool and NodePoolUpgrade say what upgrade-node-pool replaces and how.
	Pool            string       `json:"pool,omitempty"`
	NodePoolUpgrade *PoolUpgrade `json:"nodePoolUpgrade,omitempty"`
	// Create is the cluster create asks for: blue's pools at the target.
	Create *cluster.Spec `json:"create,omitempty"`
}

// PoolUpgrade is a node pool upgrade as the run asks for it.
type PoolUpgrade struct {
	KubernetesVersion       string `json:"kubernetesVersion,omitempty"`
	NodeImage               string `json:"nodeImage,omitempty"`
	MaxSurge                string `json:"maxSurge,omitempty"`
	DrainTimeoutSeconds     int64  `json:"drainTimeoutSeconds,omitempty"`
	NodeSoakSeconds         int64  `json:"nodeSoakSeconds,omitempty"`
	UndrainableNodeBehavior string `json:"undrainableNodeBehavior,omitempty"`
}

// Versions is the answer of versions.
type Versions struct {
	Versions []string `json:"versions"`
}

// Provider runs one fleet cluster's command.
type Provider struct {
	// Command and its arguments; the operation is appended.
	Command []string
	// Env adds variables; their values are secrets as far as upshift is
	// concerned, and are masked in anything it shows of the output.
	Env map[string]string
	// Timeouts override DefaultTimeouts per operation.
	Timeouts map[string]time.Duration
}

var _ cluster.Provider = (*Provider)(nil)

// NotFoundError is a cluster the command says does not exist (exit 3).
type NotFoundError struct{ Cluster, Detail string }

func (e *NotFoundError) Error() string {
	msg := fmt.Sprintf("cluster %s does not exist (the exec provider's command exited %d)", e.Cluster, ExitNotFound)
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

// Get reads the cluster.
func (p *Provider) Get(ctx context.Context, name string) (*cluster.Cluster, error) {
	out, err := p.call(ctx, Request{Operation: cluster.OpGet, Cluster: name}, nil)
	if err != nil {
		return nil, err
	}
	return p.decodeCluster(cluster.OpGet, name, out)
}

// Versions lists the Kubernetes versions the platform offers, oldest first.
func (p *Provider) Versions(ctx context.Context) ([]kubeversion.Version, error) {
	out, err := p.call(ctx, Request{Operation: cluster.OpVersions}, nil)
	if err != nil {
		return nil, err
	}
	var answer Versions
	if err := p.decode(cluster.OpVersions, out, &answer); err != nil {
		return nil, err
	}
	var list []kubeversion.Version
	for _, s := range answer.Versions {
		v, err := kubeversion.Parse(s)
		if err != nil {
			return nil, p.contractError(cluster.OpVersions, out, fmt.Errorf("version %q: %w", s, err))
		}
		list = append(list, v)
	}
	slices.SortFunc(list, kubeversion.Version.Compare)
	return list, nil
}

// UpgradeControlPlane asks the command to move the control plane.
func (p *Provider) UpgradeControlPlane(ctx context.Context, name, version string) error {
	out, err := p.call(ctx, Request{Operation: cluster.OpUpgradeControlPlane, Cluster: name, KubernetesVersion: version}, nil)
	if err != nil {
		return err
	}
	return p.decodeOptional(cluster.OpUpgradeControlPlane, out, &struct{}{})
}

// UpgradeNodePool asks the command to replace a pool's nodes; the lines
// it writes to stderr are the upgrade's progress.
func (p *Provider) UpgradeNodePool(ctx context.Context, name, pool string, up cluster.NodePoolUpgrade) (nodepool.Result, error) {
	start := time.Now()
	req := Request{Operation: cluster.OpUpgradeNodePool, Cluster: name, Pool: pool, NodePoolUpgrade: &PoolUpgrade{
		KubernetesVersion: up.KubernetesVersion, NodeImage: up.NodeImage,
		DrainTimeoutSeconds: int64(up.DrainTimeout / time.Second), NodeSoakSeconds: int64(up.Soak / time.Second),
		UndrainableNodeBehavior: up.OnUndrainable,
	}}
	if up.MaxSurge.String() != "0" {
		req.NodePoolUpgrade.MaxSurge = up.MaxSurge.String()
	}
	var progress func(string)
	if up.Events != nil {
		progress = func(line string) { up.Events(nodepool.Event{Time: time.Now(), Step: "Exec", Message: line}) }
	}
	out, err := p.call(ctx, req, progress)
	if err != nil {
		return nodepool.Result{}, err
	}
	var res nodepool.Result
	if err := p.decodeOptional(cluster.OpUpgradeNodePool, out, &res); err != nil {
		return nodepool.Result{}, err
	}
	res.Duration = time.Since(start)
	return res, nil
}

// Create asks the command for a new cluster and returns it as get would.
func (p *Provider) Create(ctx context.Context, spec cluster.Spec) (*cluster.Cluster, error) {
	out, err := p.call(ctx, Request{Operation: cluster.OpCreate, Cluster: spec.Name, KubernetesVersion: spec.KubernetesVersion, Create: &spec}, nil)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(out)) == 0 {
		return p.Get(ctx, spec.Name)
	}
	return p.decodeCluster(cluster.OpCreate, spec.Name, out)
}

// Delete asks the command to remove a cluster; one it says is gone is not
// an error.
func (p *Provider) Delete(ctx context.Context, name string) error {
	_, err := p.call(ctx, Request{Operation: cluster.OpDelete, Cluster: name}, nil)
	var nf *NotFoundError
	if errors.As(err, &nf) {
		return nil
	}
	return err
}

func (p *Provider) timeout(op string) time.Duration {
	if d, ok := p.Timeouts[op]; ok && d > 0 {
		return d
	}
	return DefaultTimeouts[op]
}

// environ is the request as variables, for scripts that would rather not
// parse JSON.
func (p *Provider) environ(req Request) []string {
	env := os.Environ()
	add := func(k, v string) {
		if v != "" {
			env = append(env, "UPSHIFT_EXEC_"+k+"="+v)
		}
	}
	add("OPERATION", req.Operation)
	add("CLUSTER", req.Cluster)
	add("KUBERNETES_VERSION", req.KubernetesVersion)
	add("POOL", req.Pool)
	if u := req.NodePoolUpgrade; u != nil {
		add("KUBERNETES_VERSION", u.KubernetesVersion)
		add("NODE_IMAGE", u.NodeImage)
		add("MAX_SURGE", u.MaxSurge)
		if u.DrainTimeoutSeconds > 0 {
			add("DRAIN_TIMEOUT_SECONDS", strconv.FormatInt(u.DrainTimeoutSeconds, 10))
		}
		if u.NodeSoakSeconds > 0 {
			add("NODE_SOAK_SECONDS", strconv.FormatInt(u.NodeSoakSeconds, 10))
		}
		add("UNDRAINABLE_NODE_BEHAVIOR", u.UndrainableNodeBehavior)
	}
	if c := req.Create; c != nil {
		var pools []string
		for _, np := range c.NodePools {
			pools = append(pools, fmt.Sprintf("%s=%d", np.Name, np.Count))
			add("NODE_IMAGE", np.NodeImage)
		}
		add("NODE_POOLS", strings.Join(pools, ","))
	}
	for k, v := range p.Env {
		env = append(env, k+"="+v)
	}
	return env
}

// call runs the command for one operation and returns its stdout.
func (p *Provider) call(ctx context.Context, req Request, progress func(string)) ([]byte, error) {
	req.APIVersion = APIVersion
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	timeout := p.timeout(req.Operation)
	runCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	args := append(slices.Clone(p.Command[1:]), req.Operation)
	cmd := osexec.CommandContext(runCtx, p.Command[0], args...)
	cmd.Stdin = bytes.NewReader(body)
	cmd.Env = p.environ(req)
	stdout := &limited{max: maxStdout}
	stderr := &lines{tail: tail.Buffer{Max: maxStderr}, each: progress, mask: p.mask}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	// At the timeout, stop the command and everything it started: a child
	// holding stdout open would otherwise hold the step.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	err = cmd.Run()
	stderr.flush()
	what := fmt.Sprintf("exec provider: %s %s", p.Command[0], req.Operation)
	if req.Cluster != "" {
		what += " (cluster " + req.Cluster + ")"
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		said := p.said(stderr)
		if runCtx.Err() != nil {
			return nil, transient.MarkPermanent(fmt.Errorf("%s did not finish within %s and was stopped (spec.exec.timeouts.%s sets the limit)%s", what, timeout, req.Operation, said))
		}
		var exit *osexec.ExitError
		if !errors.As(err, &exit) {
			return nil, transient.MarkPermanent(fmt.Errorf("%s: %w", what, err))
		}
		switch exit.ExitCode() {
		case ExitNotFound:
			return nil, &NotFoundError{Cluster: req.Cluster, Detail: strings.TrimSpace(p.mask(stderr.tail.String()))}
		case ExitRetry:
			return nil, transient.Mark(fmt.Errorf("%s exited %d (asks to be run again)%s", what, ExitRetry, said))
		}
		return nil, transient.MarkPermanent(fmt.Errorf("%s exited %d%s", what, exit.ExitCode(), said))
	}
	if stdout.over {
		return nil, transient.MarkPermanent(fmt.Errorf("%s printed more than %d bytes on stdout; the answer is one JSON object, logs go to stderr", what, maxStdout))
	}
	return stdout.buf.Bytes(), nil
}

// said is the end of what the command wrote to stderr, for an error.
func (p *Provider) said(stderr *lines) string {
	s := strings.TrimSpace(p.mask(stderr.tail.String()))
	if s == "" {
		return " (it wrote nothing to stderr)"
	}
	return "; its last words on stderr:\n" + s
}

// mask hides the values of spec.exec.env (tokens, keys) in output upshift
// shows or records.
func (p *Provider) mask(s string) string {
	for _, v := range p.Env {
		if len(v) >= 4 {
			s = strings.ReplaceAll(s, v, "***")
		}
	}
	return s
}

func (p *Provider) decode(op string, out []byte, into any) error {
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		return p.contractError(op, out, err)
	}
	if dec.More() {
		return p.contractError(op, out, errors.New("more than one JSON value"))
	}
	return nil
}

// decodeOptional accepts an empty answer.
func (p *Provider) decodeOptional(op string, out []byte, into any) error {
	if len(bytes.TrimSpace(out)) == 0 {
		return nil
	}
	return p.decode(op, out, into)
}

func (p *Provider) decodeCluster(op, name string, out []byte) (*cluster.Cluster, error) {
	var c cluster.Cluster
	if err := p.decode(op, out, &c); err != nil {
		return nil, err
	}
	if c.Name == "" {
		c.Name = name
	}
	if _, err := kubeversion.Parse(c.KubernetesVersion); err != nil {
		return nil, p.contractError(op, out, fmt.Errorf("kubernetesVersion: %w", err))
	}
	return &c, nil
}

func (p *Provider) contractError(op string, out []byte, err error) error {
	start := strings.TrimSpace(p.mask(string(out)))
	if len(start) > 200 {
		start = start[:200] + "…"
	}
	if start == "" {
		start = "(nothing)"
	}
	return transient.MarkPermanent(fmt.Errorf("exec provider: %s %s printed an answer that is not the contract's JSON (docs/providers/exec.md): %w; stdout began: %s", p.Command[0], op, err, start))
}

// limited keeps up to max bytes and notes that more came.
type limited struct {
	buf  bytes.Buffer
	max  int
	over bool
}

func (l *limited) Write(b []byte) (int, error) {
	if room := l.max - l.buf.Len(); room < len(b) {
		l.over = true
		l.buf.Write(b[:max(room, 0)])
		return len(b), nil
	}
	return l.buf.Write(b)
}

// lines keeps stderr's tail and hands each whole line to each.
type lines struct {
	tail    tail.Buffer
	each    func(string)
	mask    func(string) string
	partial []byte
}

func (l *lines) Write(b []byte) (int, error) {
	_, _ = l.tail.Write(b)
	if l.each == nil {
		return len(b), nil
	}
	l.partial = append(l.partial, b...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		if line := strings.TrimSpace(string(l.partial[:i])); line != "" {
			l.each(l.mask(line))
		}
		l.partial = l.partial[i+1:]
	}
	if len(l.partial) > maxStderr {
		l.partial = l.partial[len(l.partial)-maxStderr:]
	}
	return len(b), nil
}

func (l *lines) flush() {
	if l.each != nil {
		if line := strings.TrimSpace(string(l.partial)); line != "" {
			l.each(l.mask(line))
		}
	}
	l.partial = nil
}
