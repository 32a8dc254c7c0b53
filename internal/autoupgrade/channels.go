package autoupgrade

import (
	"fmt"
	"slices"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/kubeversion"
)

// Target is the version a channel offers a cluster running current, among
// the versions its provider offers:
//   - Rapid: the newest version;
//   - Stable: the newest patch of the minor before the newest (N-1);
//   - Patch: the newest patch of the cluster's current minor;
//   - TargetKubernetesVersion: the newest patch of the profile's minor.
//
// ok is false when the channel offers nothing newer than current (a
// channel never moves a cluster back), or nothing at all.
func Target(channel string, minor kubeversion.Version, available []kubeversion.Version, current kubeversion.Version) (target kubeversion.Version, ok bool) {
	if len(available) == 0 {
		return kubeversion.Version{}, false
	}
	newest := slices.MaxFunc(available, kubeversion.Version.Compare)
	var want kubeversion.Version
	switch channel {
	case v1alpha1.ChannelRapid:
		target = newest
	case v1alpha1.ChannelStable:
		want = kubeversion.Version{Major: newest.Major, Minor: newest.Minor - 1}
	case v1alpha1.ChannelPatch:
		want = current.WithoutPatch()
	case v1alpha1.ChannelTargetKubernetesVersion:
		want = minor.WithoutPatch()
	default:
		return kubeversion.Version{}, false
	}
	if target.IsZero() {
		r, err := kubeversion.Resolve(want, available)
		if err != nil {
			return kubeversion.Version{}, false
		}
		target = r
	}
	if target.Compare(current) <= 0 {
		return kubeversion.Version{}, false
	}
	return target, true
}

// Validate checks a profile: a known channel, a minor for
// TargetKubernetesVersion (and none for the others), a strategy that
// exists, and a node image selection runs can use.
func Validate(p *v1alpha1.AutoUpgradeProfile, strategies map[string]*v1alpha1.UpdateStrategy) error {
	where := "AutoUpgradeProfile " + p.Name
	if p.Name == "" {
		return fmt.Errorf("an AutoUpgradeProfile has no metadata.name")
	}
	s := p.Spec
	if !slices.Contains(v1alpha1.Channels, s.Channel) {
		return fmt.Errorf("%s: spec.channel %q: use one of %v", where, s.Channel, v1alpha1.Channels)
	}
	switch {
	case s.Channel == v1alpha1.ChannelTargetKubernetesVersion && s.TargetKubernetesVersion == "":
		return fmt.Errorf("%s: channel TargetKubernetesVersion needs spec.targetKubernetesVersion, a minor such as \"1.36\"", where)
	case s.Channel == v1alpha1.ChannelTargetKubernetesVersion:
		v, err := kubeversion.Parse(s.TargetKubernetesVersion)
		if err != nil {
			return fmt.Errorf("%s: spec.targetKubernetesVersion: %w", where, err)
		}
		if v.HasPatch {
			return fmt.Errorf("%s: spec.targetKubernetesVersion %q: name a minor such as %q; the channel follows its newest patch", where, s.TargetKubernetesVersion, v.MinorString())
		}
	case s.TargetKubernetesVersion != "":
		return fmt.Errorf("%s: spec.targetKubernetesVersion is for channel TargetKubernetesVersion, not %s", where, s.Channel)
	}
	if s.StrategyRef != nil && s.Strategy != nil {
		return fmt.Errorf("%s: give spec.strategyRef or spec.strategy, not both", where)
	}
	if s.StrategyRef != nil {
		if _, ok := strategies[s.StrategyRef.Name]; !ok {
			return fmt.Errorf("%s: spec.strategyRef names UpdateStrategy %q, which the file does not hold", where, s.StrategyRef.Name)
		}
	}
	if sel := s.NodeImageSelection; sel != nil && sel.Type != v1alpha1.NodeImageLatest && sel.Type != v1alpha1.NodeImageConsistent {
		return fmt.Errorf("%s: spec.nodeImageSelection.type %q: use Latest or Consistent (a profile follows the catalogue; pin an image with upshift patch)", where, sel.Type)
	}
	return nil
}
