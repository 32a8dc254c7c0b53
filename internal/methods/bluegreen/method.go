package bluegreen

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/gates/gatespec"
	"upshift.dev/upshift/internal/kubeversion"
	"upshift.dev/upshift/internal/methods"
	"upshift.dev/upshift/internal/providers/fleetmember"
	"upshift.dev/upshift/internal/steps"
)

// Method is the blue-green upgrade method: each cluster's steps are the
// phases T0–T4 of a Move.
type Method struct{}

var (
	_ methods.Method        = Method{}
	_ methods.RollingBack   = Method{}
	_ methods.ApprovalGater = Method{}
	_ steps.FleetValidator  = Method{}
)

// Method names it in spec.method.
func (Method) Method() string { return v1alpha1.MethodBlueGreen }

// Validate checks spec.blueGreen and that the upgrade builds a whole
// cluster.
func (Method) Validate(run *v1alpha1.UpdateRun) field.ErrorList {
	var errs field.ErrorList
	spec := field.NewPath("spec")
	if run.Spec.Upgrade.Type != v1alpha1.UpgradeFull {
		errs = append(errs, field.Invalid(spec.Child("upgrade", "type"), run.Spec.Upgrade.Type, "a blue-green move builds a whole new cluster: use Full"))
	}
	if run.Spec.Canary != nil && run.Spec.Method == v1alpha1.MethodBlueGreen {
		errs = append(errs, field.Forbidden(spec.Child("canary"), "set method: Canary to use canary"))
	}
	if run.Spec.BlueGreen == nil {
		return append(errs, field.Required(spec.Child("blueGreen"), fmt.Sprintf("method %s needs blueGreen.traffic at least", run.Spec.Method)))
	}
	return append(errs, validateSpec(spec.Child("blueGreen"), run.Spec.BlueGreen)...)
}

// ValidateFleet refuses shared names when a run moves several clusters.
func (Method) ValidateFleet(run *v1alpha1.UpdateRun, clusters int) field.ErrorList {
	if bg := run.Spec.BlueGreen; bg != nil && clusters > 1 && !bg.Traffic.Hosts.PerCluster() {
		return field.ErrorList{field.Invalid(field.NewPath("spec", "blueGreen", "traffic", "hosts"), bg.Traffic.Hosts.Cluster,
			fmt.Sprintf("the run moves %d clusters: each needs its own names, so put %s in all four (e.g. %s.aks.example.com)", clusters, v1alpha1.ClusterPlaceholder, v1alpha1.ClusterPlaceholder))}
	}
	return nil
}

// Steps are preflight gates, then the five phases. Green is made at the
// target directly: no hops, but no downgrade either.
func (Method) Steps(run *v1alpha1.UpdateRun, ci steps.ClusterInfo) ([]steps.Step, error) {
	var out []steps.Step
	if len(run.Spec.Gates.Preflight) > 0 {
		out = append(out, steps.Step{Kind: steps.Preflight})
	}
	if err := errors.Join(ci.Need(steps.OpCreate, StepDeployGreen), ci.Need(steps.OpDelete, StepRetireBlue)); err != nil {
		return nil, err
	}
	current, target, err := ci.FromTo(run.Spec.Upgrade.KubernetesVersion)
	if err != nil {
		return nil, err
	}
	if target.CompareMinor(current) < 0 {
		return nil, fmt.Errorf("cluster %s: runs %s: downgrading to %s is not supported", ci.Cluster.Name, current, target)
	}
	if _, err := kubeversion.Resolve(target, ci.Available); err != nil {
		return nil, fmt.Errorf("cluster %s: green cannot run %s: %w", ci.Cluster.Name, run.Spec.Upgrade.KubernetesVersion, err)
	}
	for _, phase := range Steps {
		out = append(out, steps.Step{Kind: phase})
	}
	return out, nil
}

// Execute runs one phase of the cluster's move.
func (Method) Execute(ctx context.Context, env methods.Env, step steps.Step) (methods.Result, error) {
	if step.Kind == steps.Preflight {
		return env.Gates(ctx, env.Run().Spec.Gates.Preflight, env.Member(), "")
	}
	mv, err := NewMove(ctx, env, env.Member())
	if err != nil {
		return methods.Result{}, err
	}
	var msg string
	switch step.Kind {
	case StepBaseline:
		msg, err = mv.Baseline(ctx)
	case StepDeployGreen:
		msg, err = mv.DeployGreen(ctx)
	case StepSync:
		msg, err = mv.Sync(ctx)
	case StepSwitch:
		msg, err = mv.Switch(ctx)
		var rolledBack *RolledBackError
		if errors.As(err, &rolledBack) {
			MarkRolledBack(env, rolledBack.Reason)
		}
	case StepRetireBlue:
		if msg, err = mv.RetireBlue(ctx, env.Since()); err == nil {
			if rerr := env.Replaced(mv.Status().Green); rerr != nil {
				return methods.Result{Message: msg}, fmt.Errorf("green is the new blue, but recording it failed: %w", rerr)
			}
		}
	default:
		return methods.Result{}, fmt.Errorf("the blue-green method has no step %q", step.Kind)
	}
	return methods.Result{Message: msg}, err
}

// ApprovalGates are the Approval gates of the validation and the
// post-switch window.
func (Method) ApprovalGates(run *v1alpha1.UpdateRun) []string {
	bg := run.Spec.BlueGreen
	if bg == nil {
		return nil
	}
	return append(methods.ApprovalGates(bg.Validation.Gates), methods.ApprovalGates(bg.PostSwitch.Gates)...)
}

// Rollbackable: a move began once T0 recorded its status; it can no longer
// be undone once T4 destroyed blue.
func (Method) Rollbackable(cs v1alpha1.StageClusterStatus) (bool, error) {
	bg := cs.BlueGreen
	if bg == nil {
		return false, nil
	}
	if bg.BlueDeleted != nil {
		return false, fmt.Errorf("cluster %s: blue %s was destroyed at the end of T4; there is nothing to roll back to", cs.Name, bg.Blue)
	}
	return true, nil
}

// Rollback sends the cluster's traffic back to blue, lifts the freeze and
// marks the sync and switch to be done again on a resume.
func (Method) Rollback(ctx context.Context, env methods.Env, reason string) (string, error) {
	bg := env.ClusterStatus().BlueGreen
	if bg == nil {
		return "nothing to roll back", nil
	}
	blue, err := env.Reach(bg.Blue)
	if err != nil {
		return "", err
	}
	mv, err := NewMove(ctx, env, blue)
	if err != nil {
		return "", err
	}
	if bg.RolledBack == nil {
		if err := mv.Rollback(ctx, reason); err != nil {
			return "", err
		}
	}
	MarkRolledBack(env, reason)
	return "traffic back on blue " + bg.Blue + "; green " + bg.Green + " kept for inspection", nil
}

// Moved names the cluster's blue and green once T0 named them.
func (Method) Moved(cs v1alpha1.StageClusterStatus) (blue, green string) {
	if bg := cs.BlueGreen; bg != nil {
		return bg.Blue, bg.Green
	}
	return "", ""
}

// Traffic is spec.blueGreen.traffic.
func (Method) Traffic(spec *v1alpha1.UpdateRunSpec) (v1alpha1.TrafficSpec, error) {
	if spec.BlueGreen == nil {
		return v1alpha1.TrafficSpec{}, fmt.Errorf("the run has no spec.blueGreen: its traffic is not named")
	}
	return spec.BlueGreen.Traffic, nil
}

// MarkRolledBack records a cluster's rollback: every step from the sync
// on (the switch, a canary's traffic steps, the retirement) must be done
// again (the freeze was lifted, blue may change) if it resumes. The
// record stays true: a step that succeeded keeps its result and is
// RolledBack (undone, to be done again), one the rollback interrupted is
// RolledBack as interrupted, one that failed stays Failed with its cause,
// and the cluster carries the rollback's own reason.
func MarkRolledBack(env methods.Env, reason string) {
	env.Record(func(c *v1alpha1.StageClusterStatus) {
		c.Phase, c.Message, c.End = v1alpha1.PhaseRolledBack, reason, now()
		for k := range c.Steps {
			st := &c.Steps[k]
			switch st.Kind {
			case steps.Preflight, StepBaseline, StepDeployGreen:
				continue
			}
			switch {
			case st.Phase == v1alpha1.PhaseCompleted:
				st.Phase, st.Message = v1alpha1.PhaseRolledBack, strings.TrimSuffix(st.Message, ".")+"; undone by the rollback"
			case st.Phase == v1alpha1.PhaseRunning, st.Phase == v1alpha1.PhaseWaiting,
				st.Phase == v1alpha1.PhaseFailed && interrupted(st.Message):
				st.Phase, st.Message = v1alpha1.PhaseRolledBack, "interrupted by the rollback"
				if st.End == nil {
					st.End = now()
				}
			}
		}
	})
}

// interrupted is a step's failure that is only the rollback stopping it.
func interrupted(msg string) bool {
	return msg == "" || msg == "rolled back" || strings.HasSuffix(msg, context.Canceled.Error())
}

// newMove builds the move of the env's cluster, whose blue is blue.
func NewMove(ctx context.Context, env methods.Env, blue *fleetmember.Member) (*Move, error) {
	tp, err := env.Traffic()
	if err != nil {
		return nil, err
	}
	run := env.Run()
	target, err := methods.TargetVersion(ctx, blue, run.Spec.Upgrade.KubernetesVersion)
	if err != nil {
		return nil, err
	}
	get := func(c *v1alpha1.StageClusterStatus) *v1alpha1.BlueGreenStatus {
		if c.BlueGreen == nil {
			c.BlueGreen = &v1alpha1.BlueGreenStatus{Blue: blue.Name, Green: GreenName(blue.Name)}
		}
		return c.BlueGreen
	}
	spec := *run.Spec.BlueGreen.DeepCopy()
	spec.Traffic.Hosts = spec.Traffic.Hosts.For(env.Cluster().Name)
	mv := &Move{
		Run:           run.Name,
		Spec:          spec,
		TargetVersion: target.String(),
		NodeImage:     run.Status.NodeImage,
		Provider:      blue.Provider,
		Traffic:       tp,
		Blue:          Cluster{Name: blue.Name, RESTConfig: blue.RESTConfig, Kubeconfig: blue.Kubeconfig},
		Resolve: func(name string) (Cluster, error) {
			m, err := env.Reach(name)
			if err != nil {
				return Cluster{}, fmt.Errorf("reaching %s: %w", name, err)
			}
			return Cluster{Name: m.Name, RESTConfig: m.RESTConfig, Kubeconfig: m.Kubeconfig}, nil
		},
		Status: func() v1alpha1.BlueGreenStatus {
			cs := env.ClusterStatus()
			return *get(&cs).DeepCopy()
		},
		Record: func(fn func(*v1alpha1.BlueGreenStatus)) {
			env.Record(func(c *v1alpha1.StageClusterStatus) { fn(get(c)) })
		},
		Progress: env.Progress,
	}
	mv.Gates = func(ctx context.Context, list []v1alpha1.GateSpec, c Cluster) (string, error) {
		m := &fleetmember.Member{Provider: blue.Provider, Name: c.Name, RESTConfig: c.RESTConfig, Kubeconfig: c.Kubeconfig}
		res, err := env.Gates(ctx, list, m, target.String())
		return res.Message, err
	}
	return mv, nil
}

func validateSpec(p *field.Path, bg *v1alpha1.BlueGreenSpec) field.ErrorList {
	var errs field.ErrorList
	tp := p.Child("traffic")
	t := bg.Traffic
	switch t.Provider {
	case v1alpha1.TrafficGateway:
		if t.Gateway == nil || t.Gateway.AdminURL == "" || (t.Gateway.TokenFile == "" && t.Gateway.TokenSecretRef == nil) {
			errs = append(errs, field.Required(tp.Child("gateway"), "adminURL and tokenFile (on a hub tokenSecretRef) of the gateway's admin API"))
		}
	case v1alpha1.TrafficDNS:
		if t.DNS == nil || t.DNS.Server == "" || t.DNS.Zone == "" || t.DNS.KeyName == "" || (t.DNS.KeySecretFile == "" && t.DNS.KeySecretRef == nil) {
			errs = append(errs, field.Required(tp.Child("dns"), "server, zone, keyName and keySecretFile (on a hub keySecretRef)"))
		}
	case v1alpha1.TrafficTrafficManager:
		if tm := t.TrafficManager; tm == nil || tm.SubscriptionID == "" || tm.ResourceGroup == "" {
			errs = append(errs, field.Required(tp.Child("trafficManager"), "subscriptionID and resourceGroup of the Traffic Manager profiles"))
		}
		sample := t.Hosts.For("c")
		for _, h := range []struct{ name, sample string }{{"cluster", sample.Cluster}, {"blue", sample.Blue}, {"green", sample.Green}} {
			if !strings.HasSuffix(h.sample, ".trafficmanager.net") {
				errs = append(errs, field.Invalid(tp.Child("hosts", h.name), h.sample, "with provider trafficmanager each switched name is a profile's DNS name, NAME.trafficmanager.net"))
			}
		}
	case v1alpha1.TrafficFrontDoor:
		if fd := t.FrontDoor; fd == nil || fd.SubscriptionID == "" || fd.ResourceGroup == "" || fd.Profile == "" {
			errs = append(errs, field.Required(tp.Child("frontDoor"), "subscriptionID, resourceGroup and profile of the Front Door profile"))
		}
	case v1alpha1.TrafficAzureDNS:
		if a := t.AzureDNS; a == nil || a.SubscriptionID == "" || a.ResourceGroup == "" || a.Zone == "" || len(a.Targets) < 2 {
			errs = append(errs, field.Required(tp.Child("azureDNS"), "subscriptionID, resourceGroup, zone and the targets of blue and green"))
		}
	case v1alpha1.TrafficHAProxy:
		if h := t.HAProxy; h == nil || h.RuntimeAPI == "" {
			errs = append(errs, field.Required(tp.Child("haproxy", "runtimeAPI"), "HAProxy's stats socket at level admin: a unix socket path or host:port"))
		} else if h.DrainTimeout != nil && h.DrainTimeout.Duration < 0 {
			errs = append(errs, field.Invalid(tp.Child("haproxy", "drainTimeout"), h.DrainTimeout.Duration.String(), "must not be negative"))
		}
	case v1alpha1.TrafficGatewayAPI:
		if g := t.GatewayAPI; g == nil || g.ParentRef.Name == "" {
			errs = append(errs, field.Required(tp.Child("gatewayAPI", "parentRef", "name"), "the Gateway the routes attach to"))
		} else if g.AcceptTimeout != nil && g.AcceptTimeout.Duration <= 0 {
			errs = append(errs, field.Invalid(tp.Child("gatewayAPI", "acceptTimeout"), g.AcceptTimeout.Duration.String(), "must be positive"))
		}
	default:
		errs = append(errs, field.NotSupported(tp.Child("provider"), t.Provider, []string{v1alpha1.TrafficGateway, v1alpha1.TrafficDNS, v1alpha1.TrafficTrafficManager, v1alpha1.TrafficAzureDNS, v1alpha1.TrafficFrontDoor, v1alpha1.TrafficHAProxy, v1alpha1.TrafficGatewayAPI}))
	}
	hp := tp.Child("hosts")
	seen := map[string]string{}
	sample := t.Hosts.For("c") // names are checked as a cluster would get them
	for _, h := range []struct{ name, value, sample string }{{"public", t.Hosts.Public, sample.Public}, {"cluster", t.Hosts.Cluster, sample.Cluster}, {"blue", t.Hosts.Blue, sample.Blue}, {"green", t.Hosts.Green, sample.Green}} {
		if errs1 := validation.IsDNS1123Subdomain(h.sample); len(errs1) > 0 {
			errs = append(errs, field.Invalid(hp.Child(h.name), h.value, "a host name is required: "+errs1[0]))
			continue
		}
		if other, dup := seen[h.value]; dup {
			errs = append(errs, field.Invalid(hp.Child(h.name), h.value, "the same name as hosts."+other+": the four names must differ"))
		}
		seen[h.value] = h.name
	}
	if t.URL != "" && !regexp.MustCompile(`^https?://[^/]+/?$`).MatchString(t.URL) {
		errs = append(errs, field.Invalid(tp.Child("url"), t.URL, "write the front door's address as http(s)://host:port"))
	}
	sp := p.Child("sync")
	switch bg.Sync.Source {
	case "", v1alpha1.SyncCopy:
		if bg.Sync.Manifests != "" {
			errs = append(errs, field.Forbidden(sp.Child("manifests"), "only source Manifests reads manifests"))
		}
	case v1alpha1.SyncManifests:
		if bg.Sync.Manifests == "" {
			errs = append(errs, field.Required(sp.Child("manifests"), "a folder of manifests or a kustomization"))
		}
	default:
		errs = append(errs, field.NotSupported(sp.Child("source"), bg.Sync.Source, []string{v1alpha1.SyncCopy, v1alpha1.SyncManifests}))
	}
	for i, sa := range bg.Freeze.ServiceAccounts {
		if ns, name, ok := strings.Cut(sa, "/"); !ok || ns == "" || name == "" {
			errs = append(errs, field.Invalid(p.Child("freeze", "serviceAccounts").Index(i), sa, "write namespace/name"))
		}
	}
	for i, g := range bg.Validation.Gates {
		errs = append(errs, gatespec.Validate(p.Child("validation", "gates").Index(i), &g)...)
	}
	if lc := bg.Validation.LoadComparison; lc != nil {
		lp := p.Child("validation", "loadComparison")
		if lc.Requests < 0 || lc.Concurrency < 0 || lc.ThresholdPercent < 0 {
			errs = append(errs, field.Invalid(lp, fmt.Sprintf("requests=%d concurrency=%d thresholdPercent=%d", lc.Requests, lc.Concurrency, lc.ThresholdPercent), "must not be negative"))
		}
	}
	for i, g := range bg.PostSwitch.Gates {
		errs = append(errs, gatespec.Validate(p.Child("postSwitch", "gates").Index(i), &g)...)
	}
	for name, d := range map[string]*metav1.Duration{"postSwitch.window": bg.PostSwitch.Window, "blueSoak": bg.BlueSoak} {
		if d != nil && d.Duration < 0 {
			errs = append(errs, field.Invalid(p.Child(name), d.Duration.String(), "must not be negative"))
		}
	}
	if m := bg.PostSwitch.MaxErrorRatePercent; m != nil && (*m < 0 || *m > 100) {
		errs = append(errs, field.Invalid(p.Child("postSwitch", "maxErrorRatePercent"), *m, "use 0 to 100"))
	}
	return errs
}
