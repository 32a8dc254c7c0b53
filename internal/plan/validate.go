package plan

import (
	"fmt"
	"regexp"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/kubeversion"
)

// Validate checks a run and its strategy on their own, without the fleet.
func Validate(run *v1alpha1.UpdateRun, strategy *v1alpha1.UpdateStrategySpec) field.ErrorList {
	var errs field.ErrorList
	if errs1 := validation.IsDNS1123Subdomain(run.Name); len(errs1) > 0 {
		errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), run.Name, errs1[0]))
	}
	spec := field.NewPath("spec")
	switch {
	case run.Spec.Strategy != nil && run.Spec.StrategyRef != nil:
		errs = append(errs, field.Forbidden(spec.Child("strategy"), "give strategy or strategyRef, not both"))
	case strategy == nil:
		errs = append(errs, field.Required(spec.Child("strategy"), "inline a strategy, name one with strategyRef, or pass --stages"))
	default:
		errs = append(errs, validateStrategy(spec.Child("strategy"), strategy)...)
	}
	up := spec.Child("upgrade")
	switch run.Spec.Upgrade.Type {
	case v1alpha1.UpgradeFull, v1alpha1.UpgradeControlPlaneOnly:
		if _, err := kubeversion.Parse(run.Spec.Upgrade.KubernetesVersion); err != nil {
			errs = append(errs, field.Invalid(up.Child("kubernetesVersion"), run.Spec.Upgrade.KubernetesVersion, "a Kubernetes version such as 1.34 or 1.34.4 is required for this upgrade type"))
		}
	case v1alpha1.UpgradeNodeImageOnly:
		if run.Spec.Upgrade.KubernetesVersion != "" {
			errs = append(errs, field.Forbidden(up.Child("kubernetesVersion"), "NodeImageOnly keeps the Kubernetes version"))
		}
	default:
		errs = append(errs, field.NotSupported(up.Child("type"), run.Spec.Upgrade.Type, []string{v1alpha1.UpgradeFull, v1alpha1.UpgradeControlPlaneOnly, v1alpha1.UpgradeNodeImageOnly}))
	}
	if sel := run.Spec.Upgrade.NodeImageSelection; sel != nil {
		p := up.Child("nodeImageSelection")
		switch sel.Type {
		case v1alpha1.NodeImageLatest, v1alpha1.NodeImageConsistent:
			if sel.Image != "" {
				errs = append(errs, field.Forbidden(p.Child("image"), "only a Custom selection names an image"))
			}
		case v1alpha1.NodeImageCustom:
			if sel.Image == "" {
				errs = append(errs, field.Required(p.Child("image"), "a Custom selection names the image"))
			}
		default:
			errs = append(errs, field.NotSupported(p.Child("type"), sel.Type, []string{v1alpha1.NodeImageLatest, v1alpha1.NodeImageConsistent, v1alpha1.NodeImageCustom}))
		}
	}
	switch run.Spec.Method {
	case "", v1alpha1.MethodInPlace:
		if run.Spec.BlueGreen != nil {
			errs = append(errs, field.Forbidden(spec.Child("blueGreen"), "set method: BlueGreen to use blueGreen"))
		}
	case v1alpha1.MethodBlueGreen:
		if run.Spec.Upgrade.Type != v1alpha1.UpgradeFull {
			errs = append(errs, field.Invalid(up.Child("type"), run.Spec.Upgrade.Type, "a blue-green move builds a whole new cluster: use Full"))
		}
		if run.Spec.BlueGreen == nil {
			errs = append(errs, field.Required(spec.Child("blueGreen"), "method BlueGreen needs blueGreen.traffic at least"))
		} else {
			errs = append(errs, validateBlueGreen(spec.Child("blueGreen"), run.Spec.BlueGreen)...)
		}
	case v1alpha1.MethodCanary:
		errs = append(errs, field.NotSupported(spec.Child("method"), run.Spec.Method, []string{v1alpha1.MethodInPlace, v1alpha1.MethodBlueGreen + " (Canary is not available yet)"}))
	default:
		errs = append(errs, field.NotSupported(spec.Child("method"), run.Spec.Method, []string{v1alpha1.MethodInPlace, v1alpha1.MethodBlueGreen}))
	}
	switch run.Spec.State {
	case "", v1alpha1.StateInitialize, v1alpha1.StateRun, v1alpha1.StateStop:
	default:
		errs = append(errs, field.NotSupported(spec.Child("state"), run.Spec.State, []string{v1alpha1.StateInitialize, v1alpha1.StateRun, v1alpha1.StateStop}))
	}
	nu := spec.Child("nodeUpgrade")
	if s := run.Spec.NodeUpgrade.MaxSurge; s != nil {
		errs = append(errs, validateIntOrPercent(nu.Child("maxSurge"), *s)...)
	}
	for name, d := range map[string]*metav1.Duration{"drainTimeout": run.Spec.NodeUpgrade.DrainTimeout, "nodeSoakDuration": run.Spec.NodeUpgrade.NodeSoakDuration} {
		if d != nil && d.Duration < 0 {
			errs = append(errs, field.Invalid(nu.Child(name), d.Duration.String(), "must not be negative"))
		}
	}
	switch run.Spec.NodeUpgrade.UndrainableNodeBehavior {
	case "", v1alpha1.UndrainableCordon, v1alpha1.UndrainableSchedule:
	default:
		errs = append(errs, field.NotSupported(nu.Child("undrainableNodeBehavior"), run.Spec.NodeUpgrade.UndrainableNodeBehavior, []string{v1alpha1.UndrainableCordon, v1alpha1.UndrainableSchedule}))
	}
	for i, g := range run.Spec.Gates.Preflight {
		errs = append(errs, validateGate(spec.Child("gates", "preflight").Index(i), &g)...)
	}
	for i, g := range run.Spec.Gates.PostUpgrade {
		errs = append(errs, validateGate(spec.Child("gates", "postUpgrade").Index(i), &g)...)
	}
	if run.Spec.FailurePolicy.MaxFailedClustersPerStage < 0 {
		errs = append(errs, field.Invalid(spec.Child("failurePolicy", "maxFailedClustersPerStage"), run.Spec.FailurePolicy.MaxFailedClustersPerStage, "must not be negative"))
	}
	return errs
}

func validateStrategy(p *field.Path, s *v1alpha1.UpdateStrategySpec) field.ErrorList {
	var errs field.ErrorList
	if len(s.Stages) == 0 {
		errs = append(errs, field.Required(p.Child("stages"), "at least one stage"))
	}
	names := map[string]bool{}
	for i, st := range s.Stages {
		sp := p.Child("stages").Index(i)
		if errs1 := validation.IsDNS1123Label(st.Name); len(errs1) > 0 {
			errs = append(errs, field.Invalid(sp.Child("name"), st.Name, errs1[0]))
		}
		if names[st.Name] {
			errs = append(errs, field.Duplicate(sp.Child("name"), st.Name))
		}
		names[st.Name] = true
		if len(st.Groups) == 0 && st.LabelSelector == nil {
			errs = append(errs, field.Required(sp.Child("groups"), "select clusters with groups or a labelSelector"))
		}
		if st.LabelSelector != nil {
			if _, err := metav1.LabelSelectorAsSelector(st.LabelSelector); err != nil {
				errs = append(errs, field.Invalid(sp.Child("labelSelector"), st.LabelSelector.String(), err.Error()))
			}
		}
		if st.MaxConcurrency != nil {
			errs = append(errs, validateIntOrPercent(sp.Child("maxConcurrency"), *st.MaxConcurrency)...)
		}
		if st.AfterStageWaitInSeconds < 0 {
			errs = append(errs, field.Invalid(sp.Child("afterStageWaitInSeconds"), st.AfterStageWaitInSeconds, "must not be negative"))
		}
		for j, t := range st.BeforeStageTasks {
			tp := sp.Child("beforeStageTasks").Index(j)
			if t.Type != v1alpha1.TaskApproval {
				errs = append(errs, field.NotSupported(tp.Child("type"), t.Type, []string{v1alpha1.TaskApproval}))
			}
		}
		for j, t := range st.AfterStageTasks {
			errs = append(errs, validateTask(sp.Child("afterStageTasks").Index(j), &t)...)
		}
	}
	return errs
}

func validateTask(p *field.Path, t *v1alpha1.StageTask) field.ErrorList {
	var errs field.ErrorList
	switch t.Type {
	case v1alpha1.TaskTimedWait:
		if t.WaitTime == nil || t.WaitTime.Duration <= 0 {
			errs = append(errs, field.Required(p.Child("waitTime"), "a TimedWait needs a positive waitTime, e.g. 30m"))
		}
	case v1alpha1.TaskApproval:
	case v1alpha1.TaskGate:
		if t.Gate == nil {
			errs = append(errs, field.Required(p.Child("gate"), "a Gate task needs a gate"))
		} else {
			errs = append(errs, validateGate(p.Child("gate"), t.Gate)...)
		}
	default:
		errs = append(errs, field.NotSupported(p.Child("type"), t.Type, []string{v1alpha1.TaskTimedWait, v1alpha1.TaskApproval, v1alpha1.TaskGate}))
	}
	return errs
}

func validateGate(p *field.Path, g *v1alpha1.GateSpec) field.ErrorList {
	var errs field.ErrorList
	if g.Name == "" {
		errs = append(errs, field.Required(p.Child("name"), "gates are named in status and reports"))
	}
	switch g.Type {
	case v1alpha1.GateTimedWait:
		if g.Duration == nil || g.Duration.Duration <= 0 {
			errs = append(errs, field.Required(p.Child("duration"), "a TimedWait gate needs a positive duration"))
		}
	case v1alpha1.GateApproval, v1alpha1.GateKubernetesHealth, v1alpha1.GateDeprecatedAPIs:
	case v1alpha1.GateReadiness:
		if r := g.Readiness; r != nil {
			switch r.FailOn {
			case "", "error", "warning", "info":
			default:
				errs = append(errs, field.NotSupported(p.Child("readiness", "failOn"), r.FailOn, []string{"error", "warning", "info"}))
			}
		}
	case v1alpha1.GateHTTP:
		if g.HTTP == nil || g.HTTP.URL == "" {
			errs = append(errs, field.Required(p.Child("http", "url"), "an HTTP gate needs a URL"))
		}
	case v1alpha1.GateCommand:
		if g.Command == nil || len(g.Command.Command) == 0 {
			errs = append(errs, field.Required(p.Child("command", "command"), "a Command gate needs a command"))
		}
	default:
		errs = append(errs, field.NotSupported(p.Child("type"), g.Type, []string{v1alpha1.GateTimedWait, v1alpha1.GateApproval, v1alpha1.GateKubernetesHealth, v1alpha1.GateHTTP, v1alpha1.GateCommand, v1alpha1.GateDeprecatedAPIs, v1alpha1.GateReadiness}))
	}
	for name, d := range map[string]*metav1.Duration{"interval": g.Interval, "timeout": g.Timeout} {
		if d != nil && d.Duration <= 0 {
			errs = append(errs, field.Invalid(p.Child(name), d.Duration.String(), "must be positive"))
		}
	}
	if g.FailureThreshold < 0 {
		errs = append(errs, field.Invalid(p.Child("failureThreshold"), g.FailureThreshold, "must not be negative"))
	}
	return errs
}

func validateIntOrPercent(p *field.Path, v intstr.IntOrString) field.ErrorList {
	if _, err := intstr.GetScaledValueFromIntOrPercent(&v, 100, true); err != nil {
		return field.ErrorList{field.Invalid(p, v.String(), "use a count such as 3 or a percentage such as 33%")}
	}
	if v.Type == intstr.Int && v.IntVal < 0 {
		return field.ErrorList{field.Invalid(p, v.String(), "must not be negative")}
	}
	return nil
}

// ErrorsString renders validation errors one per line.
func ErrorsString(errs field.ErrorList) string {
	s := ""
	for i, e := range errs {
		if i > 0 {
			s += "\n"
		}
		s += fmt.Sprint(e.Error())
	}
	return s
}

func validateBlueGreen(p *field.Path, bg *v1alpha1.BlueGreenSpec) field.ErrorList {
	var errs field.ErrorList
	tp := p.Child("traffic")
	t := bg.Traffic
	switch t.Provider {
	case v1alpha1.TrafficGateway:
		if t.Gateway == nil || t.Gateway.AdminURL == "" || t.Gateway.TokenFile == "" {
			errs = append(errs, field.Required(tp.Child("gateway"), "adminURL and tokenFile of the gateway's admin API"))
		}
	case v1alpha1.TrafficDNS:
		if t.DNS == nil || t.DNS.Server == "" || t.DNS.Zone == "" || t.DNS.KeyName == "" || t.DNS.KeySecretFile == "" {
			errs = append(errs, field.Required(tp.Child("dns"), "server, zone, keyName and keySecretFile"))
		}
	default:
		errs = append(errs, field.NotSupported(tp.Child("provider"), t.Provider, []string{v1alpha1.TrafficGateway, v1alpha1.TrafficDNS}))
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
		errs = append(errs, validateGate(p.Child("validation", "gates").Index(i), &g)...)
	}
	if lc := bg.Validation.LoadComparison; lc != nil {
		lp := p.Child("validation", "loadComparison")
		if lc.Requests < 0 || lc.Concurrency < 0 || lc.ThresholdPercent < 0 {
			errs = append(errs, field.Invalid(lp, fmt.Sprintf("requests=%d concurrency=%d thresholdPercent=%d", lc.Requests, lc.Concurrency, lc.ThresholdPercent), "must not be negative"))
		}
	}
	for i, g := range bg.PostSwitch.Gates {
		errs = append(errs, validateGate(p.Child("postSwitch", "gates").Index(i), &g)...)
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
