package plan

import (
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/gates/gatespec"
	"upshift.dev/upshift/internal/kubeversion"
	"upshift.dev/upshift/internal/steps"
	"upshift.dev/upshift/internal/window"
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
	if planner, err := steps.Lookup(run.Spec.Method); err != nil {
		supported := steps.Methods()
		if run.Spec.Method == v1alpha1.MethodCanary { // in the API, not built yet
			supported = append(supported, "(Canary is not available yet)")
		}
		errs = append(errs, field.NotSupported(spec.Child("method"), run.Spec.Method, supported))
	} else {
		errs = append(errs, planner.Validate(run)...)
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
	if un := run.Spec.NodeUpgrade.Undrainable; un != nil {
		up := nu.Child("undrainable")
		switch un.Then {
		case v1alpha1.EscalateCordon, v1alpha1.EscalateDeletePod, v1alpha1.EscalateFail:
		default:
			errs = append(errs, field.NotSupported(up.Child("then"), un.Then, []string{v1alpha1.EscalateCordon, v1alpha1.EscalateDeletePod, v1alpha1.EscalateFail}))
		}
		if un.After != nil && un.After.Duration <= 0 {
			errs = append(errs, field.Invalid(up.Child("after"), un.After.Duration.String(), "must be positive"))
		}
		if run.Spec.NodeUpgrade.UndrainableNodeBehavior != "" {
			errs = append(errs, field.Invalid(up, un.Then, "set either undrainable or undrainableNodeBehavior, not both"))
		}
		if un.AllowLocalData && un.Then != v1alpha1.EscalateDeletePod {
			errs = append(errs, field.Invalid(up.Child("allowLocalData"), true, "only DeletePod deletes pods"))
		}
	}
	for i, g := range run.Spec.Gates.Preflight {
		errs = append(errs, gatespec.Validate(spec.Child("gates", "preflight").Index(i), &g)...)
	}
	for i, g := range run.Spec.Gates.PostUpgrade {
		errs = append(errs, gatespec.Validate(spec.Child("gates", "postUpgrade").Index(i), &g)...)
	}
	if run.Spec.FailurePolicy.MaxFailedClustersPerStage < 0 {
		errs = append(errs, field.Invalid(spec.Child("failurePolicy", "maxFailedClustersPerStage"), run.Spec.FailurePolicy.MaxFailedClustersPerStage, "must not be negative"))
	}
	if m := run.Spec.FailurePolicy.MaxFailedClusters; m != nil {
		errs = append(errs, validateIntOrPercent(spec.Child("failurePolicy", "maxFailedClusters"), *m)...)
	}
	errs = append(errs, validateNotifications(spec.Child("notifications"), run.Spec.Notifications)...)
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
		for j, g := range st.Groups {
			if w := g.MaintenanceWindow; w != nil {
				_, werrs := window.Compile(*w, sp.Child("groups").Index(j).Child("maintenanceWindow"))
				errs = append(errs, werrs...)
			}
			if m := g.MaxFailedClusters; m != nil {
				errs = append(errs, validateIntOrPercent(sp.Child("groups").Index(j).Child("maxFailedClusters"), *m)...)
			}
		}
		if st.MaxFailedClusters != nil {
			errs = append(errs, validateIntOrPercent(sp.Child("maxFailedClusters"), *st.MaxFailedClusters)...)
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
			errs = append(errs, gatespec.Validate(p.Child("gate"), t.Gate)...)
		}
	default:
		errs = append(errs, field.NotSupported(p.Child("type"), t.Type, []string{v1alpha1.TaskTimedWait, v1alpha1.TaskApproval, v1alpha1.TaskGate}))
	}
	return errs
}

func validateIntOrPercent(p *field.Path, v intstr.IntOrString) field.ErrorList {
	if v.Type == intstr.String && !strings.HasSuffix(v.StrVal, "%") {
		v = intstr.Parse(v.StrVal) // a quoted count, as AKS writes maxSurge: "1"
	}
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
