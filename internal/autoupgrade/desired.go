package autoupgrade

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/kubeversion"
	"upshift.dev/upshift/internal/nodeimages"
)

// LabelProfile marks the runs a profile made.
const LabelProfile = "upshift.dev/profile"

// Observed is the fleet as its providers see it now.
type Observed struct {
	// Clusters by fleet name; a cluster missing here could not be read
	// and is left out of this round.
	Clusters map[string]ClusterState
	// Images is the providers' node-image catalogue (nil: none).
	Images *nodeimages.Feed
}

// ClusterState is one cluster now.
type ClusterState struct {
	Version kubeversion.Version
	// Available versions its provider offers.
	Available []kubeversion.Version
	// PoolImages are its pools' node images.
	PoolImages []string
	// PoolNewest are, where its provider names each pool's newest image
	// rather than keeping a catalogue (AKS's upgrade profiles), those
	// images, pool by pool as PoolImages.
	PoolNewest []string
}

// Desired is a run a profile wants.
type Desired struct {
	Profile string
	// Target is the Kubernetes version or node image the run brings.
	Target   string
	Run      *v1alpha1.UpdateRun
	Strategy *v1alpha1.UpdateStrategySpec
	// Clusters are the fleet of the run: those the target is new to.
	Clusters []v1alpha1.Cluster
}

// Want lists the runs a profile asks for now: one per target, over the
// clusters the target is new to, with the profile's strategy narrowed to
// them. strategies are the profiles file's UpdateStrategy objects.
func Want(p *v1alpha1.AutoUpgradeProfile, strategies map[string]*v1alpha1.UpdateStrategy, fleet []v1alpha1.Cluster, obs Observed) []Desired {
	if p.Spec.Disabled {
		return nil
	}
	byTarget := map[string][]v1alpha1.Cluster{}
	// named are targets only a provider's naming offers (not the
	// catalogue's newest): their runs take each pool to the image named
	// for it (Latest), since a cluster's pools may run different images.
	named := map[string]bool{}
	for _, c := range fleet {
		st, ok := obs.Clusters[c.Name]
		if !ok {
			continue
		}
		if p.Spec.Channel == v1alpha1.ChannelNodeImage {
			if len(st.PoolNewest) > 0 {
				for _, t := range newerNamed(st) {
					byTarget[t] = append(byTarget[t], c)
					named[t] = named[t] || obs.Images == nil || obs.Images.Latest().Version != t
				}
				continue
			}
			if obs.Images == nil {
				continue
			}
			latest := obs.Images.Latest().Version
			if slices.ContainsFunc(st.PoolImages, func(img string) bool { return img != latest }) {
				byTarget[latest] = append(byTarget[latest], c)
			}
			continue
		}
		minor, _ := kubeversion.Parse(p.Spec.TargetKubernetesVersion)
		if t, ok := Target(p.Spec.Channel, minor, st.Available, st.Version); ok {
			byTarget[t.String()] = append(byTarget[t.String()], c)
		}
	}
	targets := make([]string, 0, len(byTarget))
	for t := range byTarget {
		targets = append(targets, t)
	}
	sort.Strings(targets)
	var out []Desired
	for _, t := range targets {
		clusters := byTarget[t]
		strategy := narrow(strategyOf(p, strategies), clusters)
		run := runFor(p, t, strategy)
		if named[t] {
			run.Spec.Upgrade.NodeImageSelection = &v1alpha1.NodeImageSelection{Type: v1alpha1.NodeImageLatest}
		}
		out = append(out, Desired{Profile: p.Name, Target: t, Run: run, Strategy: strategy, Clusters: clusters})
	}
	return out
}

// newerNamed are the images a cluster's provider names for its pools that
// the pools do not run yet, each once, sorted.
func newerNamed(st ClusterState) []string {
	var out []string
	for i, newest := range st.PoolNewest {
		if newest != "" && i < len(st.PoolImages) && st.PoolImages[i] != newest && !slices.Contains(out, newest) {
			out = append(out, newest)
		}
	}
	sort.Strings(out)
	return out
}

func strategyOf(p *v1alpha1.AutoUpgradeProfile, strategies map[string]*v1alpha1.UpdateStrategy) *v1alpha1.UpdateStrategySpec {
	switch {
	case p.Spec.Strategy != nil:
		return p.Spec.Strategy
	case p.Spec.StrategyRef != nil && strategies[p.Spec.StrategyRef.Name] != nil:
		return &strategies[p.Spec.StrategyRef.Name].Spec
	}
	one := intstr.FromInt32(1)
	return &v1alpha1.UpdateStrategySpec{Stages: []v1alpha1.StageSpec{{Name: "all", LabelSelector: &metav1.LabelSelector{}, MaxConcurrency: &one}}}
}

// narrow keeps the strategy's stages and groups that hold clusters of the
// run: a group none of them is in goes, and so does a stage left with no
// group. Stages that select by label alone stay.
func narrow(s *v1alpha1.UpdateStrategySpec, clusters []v1alpha1.Cluster) *v1alpha1.UpdateStrategySpec {
	out := s.DeepCopy()
	in := map[string]bool{}
	for _, c := range clusters {
		in[c.Spec.Group] = true
	}
	stages := out.Stages[:0]
	for _, st := range out.Stages {
		if len(st.Groups) == 0 {
			stages = append(stages, st)
			continue
		}
		groups := st.Groups[:0]
		for _, g := range st.Groups {
			if in[g.Name] {
				groups = append(groups, g)
			}
		}
		if len(groups) > 0 {
			st.Groups = groups
			stages = append(stages, st)
		}
	}
	out.Stages = stages
	return out
}

var unsafeName = regexp.MustCompile(`[^a-z0-9.-]+`)

// RunName is the run a profile makes for a target: the same profile and
// target always give the same name, which is what keeps a restarted
// scheduler from making the run twice.
func RunName(profile, target string) string {
	n := unsafeName.ReplaceAllString(strings.ToLower(profile+"-"+target), "-")
	return strings.Trim(n[:min(len(n), 63)], "-.")
}

func runFor(p *v1alpha1.AutoUpgradeProfile, target string, strategy *v1alpha1.UpdateStrategySpec) *v1alpha1.UpdateRun {
	run := &v1alpha1.UpdateRun{
		TypeMeta: metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion, Kind: "UpdateRun"},
		ObjectMeta: metav1.ObjectMeta{
			Name:        RunName(p.Name, target),
			Labels:      map[string]string{LabelProfile: p.Name},
			Annotations: map[string]string{"upshift.dev/channel": p.Spec.Channel, "upshift.dev/target": target},
		},
		Spec: v1alpha1.UpdateRunSpec{
			Strategy:      strategy,
			NodeUpgrade:   p.Spec.NodeUpgrade,
			Gates:         p.Spec.Gates,
			FailurePolicy: p.Spec.FailurePolicy,
		},
	}
	if p.Spec.Channel == v1alpha1.ChannelNodeImage {
		// The run brings the image it was made for, whatever is published
		// after; Consistent keeps one image on every cluster too.
		sel := &v1alpha1.NodeImageSelection{Type: v1alpha1.NodeImageCustom, Image: target}
		run.Spec.Upgrade = v1alpha1.UpgradeSpec{Type: v1alpha1.UpgradeNodeImageOnly, NodeImageSelection: sel}
		return run
	}
	run.Spec.Upgrade = v1alpha1.UpgradeSpec{Type: v1alpha1.UpgradeFull, KubernetesVersion: target, NodeImageSelection: p.Spec.NodeImageSelection}
	return run
}

// Active says whether a run still holds its profile: it has not ended
// (completed, failed, rolled back, cancelled), and nobody asked it to stop
// or cancel. A run Stopped because its driver was interrupted is active:
// the scheduler drives it on.
func Active(run *v1alpha1.UpdateRun) bool {
	if run.Status.Ended() {
		return false
	}
	return run.Spec.State != v1alpha1.StateStop && run.Spec.State != v1alpha1.StateCancel
}

// Describe is a line for people about a desired run.
func (d Desired) Describe() string {
	var names []string
	for _, c := range d.Clusters {
		names = append(names, c.Name)
	}
	what := "Kubernetes " + d.Target
	if d.Run.Spec.Upgrade.Type == v1alpha1.UpgradeNodeImageOnly {
		what = "node image " + d.Target
	}
	return fmt.Sprintf("profile %s: run %s brings %s to %s", d.Profile, d.Run.Name, what, strings.Join(names, ", "))
}
