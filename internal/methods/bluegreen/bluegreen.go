package bluegreen

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/freeze"
	"upshift.dev/upshift/internal/loadgen"
	"upshift.dev/upshift/internal/methods"
	"upshift.dev/upshift/internal/providers/cluster"
	"upshift.dev/upshift/internal/providers/traffic"
	"upshift.dev/upshift/internal/statesync"
)

// Phase step names, in order.
const (
	StepBaseline    = "T0-Baseline"
	StepDeployGreen = "T1-DeployGreen"
	StepSync        = "T2-Sync"
	StepSwitch      = "T3-Switch"
	StepRetireBlue  = "T4-RetireBlue"
)

// Steps are the phases of a blue-green move.
var Steps = []string{StepBaseline, StepDeployGreen, StepSync, StepSwitch, StepRetireBlue}

// Cluster is one side of the move as the engine resolved it.
type Cluster struct {
	Name       string // the provider's name
	RESTConfig *rest.Config
	Kubeconfig string
}

// Move is one cluster's blue-green move. The engine fills it and calls
// the phases in order.
type Move struct {
	Run           string
	Spec          v1alpha1.BlueGreenSpec
	TargetVersion string // full version, e.g. v1.34.4
	NodeImage     string // the run's node image; empty keeps blue's
	Provider      cluster.Provider
	Traffic       traffic.Provider
	Blue          Cluster
	// Resolve finds how to reach a cluster of the provider by name.
	Resolve func(name string) (Cluster, error)
	// Status returns the move's recorded status; Record changes and saves
	// it before returning.
	Status func() v1alpha1.BlueGreenStatus
	Record func(func(*v1alpha1.BlueGreenStatus))
	// Gates runs gates against a cluster, as the engine runs its gates.
	Gates func(ctx context.Context, list []v1alpha1.GateSpec, c Cluster) (string, error)
	// Progress reports what a long phase is doing.
	Progress func(msg string)
}

func (m *Move) progress(format string, args ...any) {
	if m.Progress != nil {
		m.Progress(fmt.Sprintf(format, args...))
	}
}

func now() *metav1.Time { t := metav1.NewTime(time.Now().UTC()); return &t }

var generation = regexp.MustCompile(`^(.*)-g(\d+)$`)

// GreenName derives green's name from blue's: app → app-g2 → app-g3. It
// is a function of blue alone, so a resumed move finds the green it made.
func GreenName(blue string) string {
	if m := generation.FindStringSubmatch(blue); m != nil {
		n, _ := strconv.Atoi(m[2])
		return fmt.Sprintf("%s-g%d", m[1], n+1)
	}
	return blue + "-g2"
}

func (m *Move) hosts() v1alpha1.HostNames { return m.Spec.Traffic.Hosts }

// target is how upshift's probes reach a name: through the front door's
// URL with the name as Host, or the name itself.
func (m *Move) target(host, path string) loadgen.Target {
	if path == "" {
		path = "/"
	}
	if u := strings.TrimSuffix(m.Spec.Traffic.URL, "/"); u != "" {
		return loadgen.Target{URL: u + path, Host: host}
	}
	return loadgen.Target{URL: "http://" + host + path}
}

// gatesFor points HTTP gates written as a path at a name.
func (m *Move) gatesFor(list []v1alpha1.GateSpec, host string) []v1alpha1.GateSpec {
	out := make([]v1alpha1.GateSpec, len(list))
	for i, g := range list {
		g = *g.DeepCopy()
		if g.HTTP != nil && strings.HasPrefix(g.HTTP.URL, "/") {
			t := m.target(host, g.HTTP.URL)
			g.HTTP.URL, g.HTTP.Host = t.URL, t.Host
		}
		out[i] = g
	}
	return out
}

func (m *Move) identities() freeze.Identities {
	f := m.Spec.Freeze
	return freeze.Identities{Users: f.Users, Groups: f.Groups, ServiceAccounts: f.ServiceAccounts}
}

func (m *Move) frozen() bool {
	f := m.Spec.Freeze
	return len(f.Users)+len(f.Groups)+len(f.ServiceAccounts) > 0
}

// Baseline is T0: blue as it is, and the traffic it serves.
func (m *Move) Baseline(ctx context.Context) (string, error) {
	blue, err := m.Provider.Get(ctx, m.Blue.Name)
	if err != nil {
		return "", fmt.Errorf("reading blue %s: %w", m.Blue.Name, err)
	}
	b := &v1alpha1.Baseline{KubernetesVersion: blue.KubernetesVersion, Workloads: map[string]int{}}
	for _, p := range blue.NodePools {
		b.NodePools = append(b.NodePools, v1alpha1.NodePoolStatus{Name: p.Name, Count: p.Count, KubernetesVersion: p.KubernetesVersion, NodeImage: p.NodeImage})
	}
	client, err := kubernetes.NewForConfig(m.Blue.RESTConfig)
	if err != nil {
		return "", err
	}
	if err := countWorkloads(ctx, client, b.Workloads); err != nil {
		return "", fmt.Errorf("reading blue's workloads: %w", err)
	}
	before, err := m.ensureRoutes(ctx, blue)
	if err != nil {
		return "", err
	}
	for name, w := range before {
		if name != m.Blue.Name && w > 0 {
			return "", fmt.Errorf("route %s sends %s: all of it must be on blue %s before a blue-green move; set it with upshift traffic set", m.hosts().Cluster, before, m.Blue.Name)
		}
	}
	probe := loadgen.Burst(ctx, m.target(m.hosts().Cluster, m.Spec.Traffic.HealthPath), 100, 2)
	b.Requests, b.Failed, b.RatePerSec = probe.Sent, probe.Failed, int(probe.Rate())
	b.P50, b.P95 = probe.P50.Round(10*time.Microsecond).String(), probe.P95.Round(10*time.Microsecond).String()
	if len(probe.Errors) > 0 {
		b.TrafficError = probe.Errors[0]
	}
	m.Record(func(s *v1alpha1.BlueGreenStatus) {
		s.Blue, s.Green, s.Baseline, s.TrafficBefore = m.Blue.Name, GreenName(m.Blue.Name), b, before
	})
	if limit := m.maxErrorRate(); probe.Sent > 0 && probe.ErrorRate()*100 > float64(limit) {
		// Users' traffic failing before anything changed would make the
		// post-switch window fail green for blue's fault, after green was
		// built and traffic moved: stop here, with nothing built.
		target := m.target(m.hosts().Cluster, m.Spec.Traffic.HealthPath)
		host := target.Host
		if host == "" {
			host = m.hosts().Cluster
		}
		return "", fmt.Errorf("blue %s fails its own traffic before anything changed: probe of %s %s (allowed %d%%, as after the switch): %s; "+
			"check traffic.url (where upshift sends users' requests; now %q) and that blue's Ingress serves the Host %s; nothing was built, resume once it answers",
			m.Blue.Name, target.URL, probe, limit, strings.Join(probe.Errors, "; "), m.Spec.Traffic.URL, host)
	}
	workloads := 0
	for _, n := range b.Workloads {
		workloads += n
	}
	return fmt.Sprintf("blue %s at %s, %d pool(s), %d workload(s); traffic %s; probe %s", m.Blue.Name, b.KubernetesVersion, len(b.NodePools), workloads, before, probe), nil
}

func countWorkloads(ctx context.Context, client kubernetes.Interface, into map[string]int) error {
	deps, err := client.AppsV1().Deployments("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, d := range deps.Items {
		into[d.Namespace]++
	}
	sts, err := client.AppsV1().StatefulSets("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, s := range sts.Items {
		into[s.Namespace]++
	}
	dss, err := client.AppsV1().DaemonSets("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, d := range dss.Items {
		into[d.Namespace]++
	}
	return nil
}

// ensureRoutes reads the switched name's weights; on a provider whose
// routes upshift edits, it first sets up the names that do not exist yet:
// the cluster name (with the public name as an alias) and blue's own name,
// both on blue.
func (m *Move) ensureRoutes(ctx context.Context, blue *cluster.Cluster) (traffic.Weights, error) {
	h := m.hosts()
	router, ok := m.Traffic.(traffic.Router)
	if !ok {
		w, err := m.Traffic.Weights(ctx, h.Cluster)
		if err != nil {
			return nil, fmt.Errorf("reading the traffic of %s: %w", h.Cluster, err)
		}
		return w, nil
	}
	ingress, err := cluster.IngressURL(ctx, m.Provider, blue)
	if err != nil {
		return nil, fmt.Errorf("blue: %w", err)
	}
	be := traffic.Backend{Name: blue.Name, URL: ingress, Weight: 100, HealthPath: m.Spec.Traffic.HealthPath}
	for _, r := range []traffic.Route{
		{Host: h.Cluster, Aliases: []string{h.Public}, UpstreamHost: h.Public, Backends: []traffic.Backend{be}},
		{Host: h.Blue, UpstreamHost: h.Public, Backends: []traffic.Backend{be}},
	} {
		_, err := router.Route(ctx, r.Host)
		if errors.Is(err, traffic.ErrNoRoute) {
			m.progress("creating route %s → %s", r.Host, blue.Name)
			err = router.ApplyRoute(ctx, r)
		}
		if err != nil {
			return nil, fmt.Errorf("route %s: %w", r.Host, err)
		}
	}
	w, err := m.Traffic.Weights(ctx, h.Cluster)
	if err != nil {
		return nil, fmt.Errorf("reading the traffic of %s: %w", h.Cluster, err)
	}
	return w, nil
}

// DeployGreen is T1: green with blue's pools at the target version, then
// the platform validation.
func (m *Move) DeployGreen(ctx context.Context) (string, error) {
	st := m.Status()
	if st.Baseline == nil {
		return "", fmt.Errorf("T0 has not recorded blue's baseline: green copies blue's pools from it")
	}
	green := st.Green
	start := time.Now()
	spec := cluster.Spec{Name: green, KubernetesVersion: m.TargetVersion}
	for _, p := range st.Baseline.NodePools {
		image := p.NodeImage
		if m.NodeImage != "" {
			image = m.NodeImage
		}
		spec.NodePools = append(spec.NodePools, cluster.NodePoolSpec{Name: p.Name, Count: p.Count, NodeImage: image})
	}
	if got, err := m.Provider.Get(ctx, green); err == nil {
		if got.KubernetesVersion != m.TargetVersion {
			return "", fmt.Errorf("a cluster named %s already runs %s, not %s: it is not this run's green; delete it (upshift local down %s) and resume", green, got.KubernetesVersion, m.TargetVersion, green)
		}
		// Made before a restart, maybe cut short: Create again makes sure
		// all of it runs, and creates nothing new.
		m.progress("green %s exists at %s (made before a restart): making sure it runs", green, got.KubernetesVersion)
	} else {
		m.progress("creating green %s at %s with %d pool(s)", green, m.TargetVersion, len(spec.NodePools))
	}
	if _, err := m.Provider.Create(ctx, spec); err != nil {
		return "", fmt.Errorf("creating green %s: %w", green, err)
	}
	gc, err := m.Resolve(green)
	if err != nil {
		return "", err
	}
	report, err := validatePlatform(ctx, m.Provider, gc, m.TargetVersion, st.Baseline.NodePools)
	if err != nil {
		return "", fmt.Errorf("green %s failed platform validation: %w", green, err)
	}
	return fmt.Sprintf("green %s ready in %s; %s", green, time.Since(start).Round(100*time.Millisecond), report), nil
}

// Sync is T2: freeze blue, fill green, report drift, validate green.
func (m *Move) Sync(ctx context.Context) (msg string, err error) {
	defer func() {
		if err != nil && m.frozen() && m.Status().FreezeApplied != nil {
			err = fmt.Errorf("%w (blue's deployers stay frozen by run %s: `upshift resume %s` retries, `upshift rollback %s` lifts the freeze)", err, m.Run, m.Run, m.Run)
		}
	}()
	st := m.Status()
	gc, err := m.Resolve(st.Green)
	if err != nil {
		return "", err
	}
	var msgs []string
	if m.frozen() {
		if err := freeze.Apply(ctx, m.Blue.RESTConfig, m.Run, m.identities()); err != nil {
			return "", fmt.Errorf("freezing blue's deployers: %w", err)
		}
		m.Record(func(s *v1alpha1.BlueGreenStatus) {
			if s.FreezeApplied == nil {
				s.FreezeApplied = now()
			}
			s.FreezeLifted = nil
		})
		m.progress("deployers frozen on blue %s (policy %s)", m.Blue.Name, freeze.PolicyName(m.Run))
		msgs = append(msgs, "blue frozen")
	}
	blueDyn, err := dynamic.NewForConfig(m.Blue.RESTConfig)
	if err != nil {
		return "", err
	}
	greenDyn, err := dynamic.NewForConfig(gc.RESTConfig)
	if err != nil {
		return "", err
	}
	opts, err := syncOptions(m.Spec.Sync, m.Blue.RESTConfig)
	if err != nil {
		return "", err
	}
	var applied int
	switch m.Spec.Sync.Source {
	case v1alpha1.SyncManifests:
		objs, err := statesync.ReadManifests(m.Spec.Sync.Manifests)
		if err != nil {
			return "", err
		}
		res, err := statesync.ApplyManifests(ctx, gc.RESTConfig, objs)
		if err != nil {
			return "", err
		}
		applied = res.Applied
	default:
		res, err := statesync.Copy(ctx, blueDyn, greenDyn, opts)
		if err != nil {
			return "", err
		}
		applied = res.Applied
	}
	m.progress("%d object(s) applied to green %s", applied, gc.Name)
	drift, err := statesync.Diff(ctx, blueDyn, greenDyn, opts)
	if err != nil {
		return "", fmt.Errorf("drift report: %w", err)
	}
	m.Record(func(s *v1alpha1.BlueGreenStatus) {
		s.Synced = applied
		s.Drift = nil
		for _, d := range drift {
			s.Drift = append(s.Drift, v1alpha1.DriftEntry{Kind: d.Kind, Namespace: d.Namespace, Name: d.Name, Problem: d.Problem})
		}
	})
	msgs = append(msgs, fmt.Sprintf("%d object(s) synced, %d drifted", applied, len(drift)))
	if err := waitWorkloads(ctx, gc.RESTConfig, opts.Namespaces, 5*time.Minute); err != nil {
		return "", fmt.Errorf("green's workloads: %w", err)
	}
	if err := m.addGreenRoutes(ctx, gc.Name); err != nil {
		return "", err
	}
	if gs := m.Spec.Validation.Gates; len(gs) > 0 {
		msg, err := m.Gates(ctx, m.gatesFor(gs, m.hosts().Green), gc)
		if err != nil {
			return "", err
		}
		msgs = append(msgs, msg)
	}
	if lc := m.Spec.Validation.LoadComparison; lc != nil {
		n, c, t, delta := orDefault(lc.Requests, 200), orDefault(lc.Concurrency, 4), orDefault(lc.ThresholdPercent, 5), 10*time.Millisecond
		if lc.MinLatencyDelta != nil {
			delta = lc.MinLatencyDelta.Duration
		}
		compare := func() loadgen.Comparison {
			return loadgen.Compare(ctx, m.target(m.hosts().Blue, lc.Path), m.target(m.hosts().Green, lc.Path), n, c, float64(t), delta)
		}
		cmp := compare()
		// A latency-only regression must show in every round: one round's
		// p95 on a busy machine is noise as often as it is a regression.
		for round := 2; round <= comparisonRounds && cmp.LatencyOnly && ctx.Err() == nil; round++ {
			m.progress("load comparison round %d of %d: %s; measuring again to tell a regression from noise", round-1, comparisonRounds, cmp)
			cmp = compare()
		}
		m.Record(func(s *v1alpha1.BlueGreenStatus) { s.LoadComparison = cmp.String() })
		if len(cmp.Regressions) > 0 {
			return "", fmt.Errorf("load comparison: %s", cmp)
		}
		msgs = append(msgs, "load comparison: "+cmp.String())
	}
	return strings.Join(msgs, "; "), nil
}

// comparisonRounds bounds how often a latency-only regression is measured
// before it fails the sync.
const comparisonRounds = 3

func orDefault(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

// addGreenRoutes puts green behind the switched name at weight 0 and
// behind its own name, on providers whose routes upshift edits.
func (m *Move) addGreenRoutes(ctx context.Context, green string) error {
	router, ok := m.Traffic.(traffic.Router)
	if !ok {
		return nil
	}
	gcl, err := m.Provider.Get(ctx, green)
	if err != nil {
		return err
	}
	ingress, err := cluster.IngressURL(ctx, m.Provider, gcl)
	if err != nil {
		return fmt.Errorf("green: %w", err)
	}
	h := m.hosts()
	be := traffic.Backend{Name: green, URL: ingress, HealthPath: m.Spec.Traffic.HealthPath}
	r, err := router.Route(ctx, h.Cluster)
	if err != nil {
		return fmt.Errorf("route %s: %w", h.Cluster, err)
	}
	if cur, ok := r.Backend(green); !ok || cur.URL != be.URL {
		be.Weight = 0
		if ok {
			be.Weight = cur.Weight
		}
		r.Backends = append(r.Without(green), be)
		if err := router.ApplyRoute(ctx, r); err != nil {
			return fmt.Errorf("adding green to %s: %w", h.Cluster, err)
		}
	}
	be.Weight = 100
	if err := router.ApplyRoute(ctx, traffic.Route{Host: h.Green, UpstreamHost: h.Public, Backends: []traffic.Backend{be}}); err != nil {
		return fmt.Errorf("route %s: %w", h.Green, err)
	}
	return nil
}

// greenAnswerTimeout bounds how long T3 waits for green to answer
// through the front door before it switches.
var greenAnswerTimeout = time.Minute

// greenAnswers waits, before any user is sent to green, until green
// answers through the front door by its green name (the route to green
// alone, with the public name upstream) three times in a row: a green
// whose ingress or app is not serving yet is not switched to. One that
// does not answer within greenAnswerTimeout fails the switch with all
// traffic still on blue. Only routers have a green name behind the front
// door's URL; DNS and Traffic Manager switches go on to the watch.
func (m *Move) greenAnswers(ctx context.Context) error {
	h := m.hosts()
	if _, ok := m.Traffic.(traffic.Router); !ok || m.Spec.Traffic.URL == "" || h.Green == "" {
		return nil
	}
	t := m.target(h.Green, m.Spec.Traffic.HealthPath)
	deadline := time.Now().Add(greenAnswerTimeout)
	var last loadgen.Stats
	for inRow := 0; inRow < 3; {
		s := loadgen.Burst(ctx, t, 1, 1)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if s.Failed == 0 {
			inRow++
			continue
		}
		inRow, last = 0, s
		if time.Now().After(deadline) {
			return fmt.Errorf("green does not answer %s through the front door (%s) after %s: %s; traffic stays on blue (check green's ingress and workloads, then resume)",
				h.Green, t.URL, greenAnswerTimeout, strings.Join(last.Errors, "; "))
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

// Switch is T3: move the cluster name to green and watch it for the
// window; any failure switches back (rollback) and fails the phase.
func (m *Move) Switch(ctx context.Context) (string, error) {
	st := m.Status()
	gc, err := m.Resolve(st.Green)
	if err != nil {
		return "", err
	}
	if err := m.addGreenRoutes(ctx, gc.Name); err != nil {
		return "", err
	}
	if err := m.greenAnswers(ctx); err != nil {
		return "", err
	}
	h := m.hosts()
	if ttl, ok := m.Traffic.(traffic.TTLManager); ok && st.Switched == nil {
		wait, err := ttl.LowerTTL(ctx, h.Cluster)
		if err != nil {
			return "", fmt.Errorf("lowering the TTL of %s: %w", h.Cluster, err)
		}
		if wait > 0 {
			m.progress("TTL of %s lowered; waiting %s for caches to expire", h.Cluster, wait)
			if err := sleep(ctx, wait); err != nil {
				return "", err
			}
		}
	}
	m.Record(func(s *v1alpha1.BlueGreenStatus) {
		s.SwitchStarted, s.RolledBack, s.RollbackReason = now(), nil, ""
	})
	start := time.Now()
	if err := m.Traffic.Switch(ctx, h.Cluster, traffic.Weights{m.Blue.Name: 0, gc.Name: 100}); err != nil {
		// A failed switch may have half-applied: put blue back.
		rbErr := m.switchBack(context.WithoutCancel(ctx))
		if rbErr != nil {
			return "", fmt.Errorf("switching %s to green: %w; switching back also failed: %w", h.Cluster, err, rbErr)
		}
		return "", fmt.Errorf("switching %s to green: %w (traffic stays on blue)", h.Cluster, err)
	}
	took := time.Since(start)
	m.Record(func(s *v1alpha1.BlueGreenStatus) {
		s.Switched, s.SwitchDuration = now(), &metav1.Duration{Duration: took}
	})
	m.progress("%s switched to green %s in %s; watching for %s", h.Cluster, gc.Name, took.Round(time.Millisecond), m.window())
	verdict, err := m.watch(ctx, gc)
	m.Record(func(s *v1alpha1.BlueGreenStatus) { s.PostSwitch = verdict })
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err() // stopped or killed: a resume watches again
		}
		reason := "post-switch check failed: " + err.Error()
		if rbErr := m.Rollback(context.WithoutCancel(ctx), reason); rbErr != nil {
			return "", fmt.Errorf("%s; rollback failed: %w", reason, rbErr)
		}
		return "", &RolledBackError{Reason: reason}
	}
	if ttl, ok := m.Traffic.(traffic.TTLManager); ok {
		if err := ttl.RestoreTTL(ctx, h.Cluster); err != nil {
			return "", fmt.Errorf("restoring the TTL of %s: %w", h.Cluster, err)
		}
	}
	return fmt.Sprintf("switched to green %s in %s; %s", gc.Name, took.Round(time.Millisecond), verdict), nil
}

// Shift sends percent of the cluster name's traffic to green and the
// rest to blue (a canary's step), green first added to the route where
// upshift edits routes. Setting the weights a step already set changes
// nothing, so a resumed step shifts again safely.
func (m *Move) Shift(ctx context.Context, percent int) error {
	st := m.Status()
	if err := m.addGreenRoutes(ctx, st.Green); err != nil {
		return err
	}
	h := m.hosts()
	w := traffic.Weights{m.Blue.Name: 100 - percent, st.Green: percent}
	if err := m.Traffic.Switch(ctx, h.Cluster, w); err != nil {
		return fmt.Errorf("setting %s to %s: %w", h.Cluster, w, err)
	}
	m.Record(func(s *v1alpha1.BlueGreenStatus) {
		if s.SwitchStarted == nil {
			s.SwitchStarted = now()
		}
		if percent == 100 && s.Switched == nil {
			s.Switched = now()
		}
	})
	return nil
}

// CheckGreen runs gates as the post-switch window does: HTTP gates
// written as a path go through the cluster name, the others check green.
func (m *Move) CheckGreen(ctx context.Context, list []v1alpha1.GateSpec) (string, error) {
	gc, err := m.Resolve(m.Status().Green)
	if err != nil {
		return "", err
	}
	return m.Gates(ctx, m.gatesFor(list, m.hosts().Cluster), gc)
}

// AllowPin lets requests pin themselves to a backend of the cluster
// name's route (testers reaching green at weight 0), or stops them, on a
// provider whose routes upshift edits; it returns the header testers send.
func (m *Move) AllowPin(ctx context.Context, allow bool) (string, error) {
	router, ok := m.Traffic.(traffic.Router)
	pinner, pins := m.Traffic.(traffic.HeaderPinner)
	if !ok || !pins {
		return "", fmt.Errorf("traffic provider %s cannot let testers pin themselves to green", m.Spec.Traffic.Provider)
	}
	r, err := router.Route(ctx, m.hosts().Cluster)
	if err != nil {
		return "", fmt.Errorf("route %s: %w", m.hosts().Cluster, err)
	}
	if r.AllowPin != allow {
		r.AllowPin = allow
		if err := router.ApplyRoute(ctx, r); err != nil {
			return "", fmt.Errorf("route %s: %w", m.hosts().Cluster, err)
		}
	}
	return pinner.PinHeader(), nil
}

// ClusterName is the switched name whose traffic the move shifts.
func (m *Move) ClusterName() string { return m.hosts().Cluster }

// RolledBackError is a switch undone: traffic is back on blue.
type RolledBackError = methods.RolledBackError

func (m *Move) window() time.Duration {
	if w := m.Spec.PostSwitch.Window; w != nil {
		return w.Duration
	}
	return 30 * time.Second
}

// maxErrorRate is the share of failed probes, in percent, that fails
// the post-switch window, and blue's baseline at T0 (default 1).
func (m *Move) maxErrorRate() int {
	if p := m.Spec.PostSwitch.MaxErrorRatePercent; p != nil {
		return *p
	}
	return 1
}

// watch probes the cluster name and runs the post-switch gates until the
// window ends.
func (m *Move) watch(ctx context.Context, gc Cluster) (string, error) {
	maxErr := m.maxErrorRate()
	probe := loadgen.Start(ctx, m.target(m.hosts().Cluster, m.Spec.Traffic.HealthPath), 1, 100*time.Millisecond)
	stats := func() loadgen.Stats { return probe.Snapshot() }
	defer probe.Stop()
	check := func() error {
		s := stats()
		if s.Sent >= 20 && s.ErrorRate()*100 > float64(maxErr) {
			return fmt.Errorf("probes of %s: %s (allowed %d%%): %s", m.hosts().Cluster, s, maxErr, strings.Join(s.Errors, "; "))
		}
		return nil
	}
	deadline := time.Now().Add(m.window())
	gates := m.gatesFor(m.Spec.PostSwitch.Gates, m.hosts().Cluster)
	for {
		if len(gates) > 0 {
			if _, err := m.Gates(ctx, gates, gc); err != nil {
				return "failed: " + err.Error(), err
			}
		}
		if err := check(); err != nil {
			return "failed: " + err.Error(), err
		}
		if time.Now().After(deadline) {
			break
		}
		if err := sleep(ctx, min(2*time.Second, time.Until(deadline)+time.Millisecond)); err != nil {
			return "interrupted", err
		}
	}
	s := probe.Stop()
	if s.Sent >= 1 && s.ErrorRate()*100 > float64(maxErr) {
		err := fmt.Errorf("probes of %s: %s", m.hosts().Cluster, s)
		return "failed: " + err.Error(), err
	}
	return fmt.Sprintf("green healthy for %s (probes: %s)", m.window(), s), nil
}

// switchBack puts all of the cluster name's traffic on blue, putting blue
// back in the route first if T4 had taken it out.
func (m *Move) switchBack(ctx context.Context) error {
	h := m.hosts()
	if router, ok := m.Traffic.(traffic.Router); ok {
		r, err := router.Route(ctx, h.Cluster)
		if err != nil {
			return err
		}
		if _, ok := r.Backend(m.Blue.Name); !ok {
			blue, err := m.Provider.Get(ctx, m.Blue.Name)
			if err != nil {
				return fmt.Errorf("blue %s: %w", m.Blue.Name, err)
			}
			for i := range r.Backends {
				r.Backends[i].Weight = 0
			}
			ingress, err := cluster.IngressURL(ctx, m.Provider, blue)
			if err != nil {
				return fmt.Errorf("blue: %w", err)
			}
			r.Backends = append(r.Backends, traffic.Backend{Name: m.Blue.Name, URL: ingress, Weight: 100, HealthPath: m.Spec.Traffic.HealthPath})
			return router.ApplyRoute(ctx, r)
		}
	}
	cur, err := m.Traffic.Weights(ctx, h.Cluster)
	if err == nil && cur[m.Blue.Name] == 100 {
		return nil
	}
	w := traffic.Weights{m.Blue.Name: 100}
	for name := range cur {
		if name != m.Blue.Name {
			w[name] = 0
		}
	}
	return m.Traffic.Switch(ctx, h.Cluster, w)
}

// Rollback sends the cluster name's traffic back to blue and lifts the
// freeze; green stays for inspection. Refused once blue is gone.
func (m *Move) Rollback(ctx context.Context, reason string) error {
	st := m.Status()
	if st.BlueDeleted != nil {
		return fmt.Errorf("blue %s was destroyed at %s: there is nothing to roll back to", m.Blue.Name, st.BlueDeleted.Format(time.RFC3339))
	}
	m.progress("rolling back: %s", reason)
	if err := m.switchBack(ctx); err != nil {
		return fmt.Errorf("switching %s back to blue: %w", m.hosts().Cluster, err)
	}
	if ttl, ok := m.Traffic.(traffic.TTLManager); ok {
		_ = ttl.RestoreTTL(ctx, m.hosts().Cluster)
	}
	if err := m.lift(ctx); err != nil {
		return err
	}
	m.Record(func(s *v1alpha1.BlueGreenStatus) { s.RolledBack, s.RollbackReason = now(), reason })
	return nil
}

func (m *Move) lift(ctx context.Context) error {
	if !m.frozen() {
		return nil
	}
	if err := freeze.Lift(ctx, m.Blue.RESTConfig, m.Run, m.identities()); err != nil {
		return fmt.Errorf("lifting the freeze on blue: %w", err)
	}
	m.Record(func(s *v1alpha1.BlueGreenStatus) {
		if s.FreezeLifted == nil {
			s.FreezeLifted = now()
		}
	})
	return nil
}

// RetireBlue is T4: after the soak, blue leaves the routes (green takes
// its dedicated name), is destroyed unless kept, and the freeze goes.
func (m *Move) RetireBlue(ctx context.Context, since time.Time) (string, error) {
	st := m.Status()
	if st.RolledBack != nil {
		return "", fmt.Errorf("the move was rolled back at %s: resume runs T2 and T3 again", st.RolledBack.Format(time.RFC3339))
	}
	if soak := m.Spec.BlueSoak; soak != nil && st.BlueDeleted == nil {
		if left := time.Until(since.Add(soak.Duration)); left > 0 {
			m.progress("blue %s soaks, ready for rollback, for %s more", m.Blue.Name, left.Round(time.Second))
			if err := sleep(ctx, left); err != nil {
				return "", err
			}
		}
	}
	h := m.hosts()
	w, err := m.Traffic.Weights(ctx, h.Cluster)
	if err != nil {
		return "", err
	}
	if w[m.Blue.Name] > 0 {
		return "", fmt.Errorf("route %s still sends %s: blue is not retired while it has traffic", h.Cluster, w)
	}
	if router, ok := m.Traffic.(traffic.Router); ok {
		r, err := router.Route(ctx, h.Cluster)
		if err != nil {
			return "", err
		}
		if keep := r.Without(m.Blue.Name); len(keep) != len(r.Backends) {
			r.Backends = keep
			if err := router.ApplyRoute(ctx, r); err != nil {
				return "", fmt.Errorf("taking blue out of %s: %w", h.Cluster, err)
			}
		}
		if g, ok := r.Backend(st.Green); ok {
			g.Weight = 100
			if err := router.ApplyRoute(ctx, traffic.Route{Host: h.Blue, UpstreamHost: h.Public, Backends: []traffic.Backend{g}}); err != nil {
				return "", fmt.Errorf("pointing %s at the new blue: %w", h.Blue, err)
			}
		}
	}
	msg := "blue " + m.Blue.Name + " kept (keepBlue)"
	if !m.Spec.KeepBlue {
		if err := m.Provider.Delete(ctx, m.Blue.Name); err != nil {
			return "", fmt.Errorf("destroying blue %s: %w", m.Blue.Name, err)
		}
		m.Record(func(s *v1alpha1.BlueGreenStatus) {
			if s.BlueDeleted == nil {
				s.BlueDeleted = now()
			}
			if s.FreezeApplied != nil && s.FreezeLifted == nil {
				s.FreezeLifted = now() // the policy went with the cluster
			}
		})
		msg = "blue " + m.Blue.Name + " destroyed"
	} else if err := m.lift(ctx); err != nil {
		return "", err
	}
	return msg + "; " + st.Green + " is the new blue", nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
