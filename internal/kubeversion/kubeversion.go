package kubeversion

import (
	"fmt"
	"regexp"
	"strings"

	utilversion "k8s.io/apimachinery/pkg/util/version"
)

// Version is a Kubernetes release: 1.MINOR, with a patch when one was
// given. The zero value means "none" (not set, not scheduled).
type Version struct {
	Major, Minor, Patch int
	// HasPatch says a patch was given ("1.35.2"), not just a minor ("1.35").
	HasPatch bool
}

// MaxKubeletSkew is how many minors a kubelet may trail its API server
// (Kubernetes' version skew policy since 1.28).
const MaxKubeletSkew = 3

// shape is what a version may look like: numbers, then at most a
// vendor's pre-release or build suffix.
var shape = regexp.MustCompile(`^v?[0-9]+\.[0-9]+(\.[0-9]+)?([-+][0-9A-Za-z.+-]+)?$`)

// Parse reads "1.35", "v1.35", "1.35.2", "v1.35.2", and a cluster's
// gitVersion with a vendor suffix ("v1.35.2-gke.1014001", "v1.35.2+k3s1"),
// whose suffix is dropped.
func Parse(s string) (Version, error) {
	in := strings.TrimSpace(s)
	bad := fmt.Errorf("%q is not a Kubernetes version: write MAJOR.MINOR or MAJOR.MINOR.PATCH, e.g. 1.35 or 1.35.2", s)
	if !shape.MatchString(in) {
		return Version{}, bad
	}
	v, err := utilversion.ParseGeneric(in)
	if err != nil {
		return Version{}, bad
	}
	if v.Major() != 1 {
		return Version{}, fmt.Errorf("%q is not a Kubernetes 1.x version", s)
	}
	out := Version{Major: 1, Minor: int(v.Minor())}
	if len(v.Components()) == 3 {
		out.Patch, out.HasPatch = int(v.Patch()), true
	}
	return out, nil
}

// MustParse is Parse for versions written in code.
func MustParse(s string) Version {
	v, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return v
}

// Minor returns the release 1.MINOR (no patch).
func Minor(minor int) Version { return Version{Major: 1, Minor: minor} }

// IsZero reports whether no version is set.
func (v Version) IsZero() bool { return v == Version{} }

// String is "v1.35.2" with a patch, "1.35" without.
func (v Version) String() string {
	switch {
	case v.IsZero():
		return ""
	case v.HasPatch:
		return fmt.Sprintf("v%d.%d.%d", v.Major, v.Minor, v.Patch)
	}
	return v.MinorString()
}

// MinorString is "1.35".
func (v Version) MinorString() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// WithoutPatch is the version's minor release.
func (v Version) WithoutPatch() Version { return Version{Major: v.Major, Minor: v.Minor} }

// CompareMinor orders two versions by major and minor only.
func (v Version) CompareMinor(o Version) int {
	if v.Major != o.Major {
		return sign(v.Major - o.Major)
	}
	return sign(v.Minor - o.Minor)
}

// Compare orders two versions; a version without a patch sorts as patch 0.
func (v Version) Compare(o Version) int {
	if c := v.CompareMinor(o); c != 0 {
		return c
	}
	return sign(v.Patch - o.Patch)
}

// MinorAtOrBefore reports whether v is set and its minor is not later
// than target's: an API removed in v is gone at target.
func (v Version) MinorAtOrBefore(target Version) bool {
	return !v.IsZero() && v.CompareMinor(target) <= 0
}

// Matches reports whether a concrete version (a cluster's) is what v
// asks for: the same minor, and the same patch when v names one.
func (v Version) Matches(concrete Version) bool {
	return v.CompareMinor(concrete) == 0 && (!v.HasPatch || v.Patch == concrete.Patch)
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

// Resolve finds what a user asked for among the versions a provider
// offers: the named patch, or the newest patch of the named minor.
func Resolve(want Version, available []Version) (Version, error) {
	var best Version
	for _, a := range available {
		if want.Matches(a) && (best.IsZero() || a.Compare(best) > 0) {
			best = a
		}
	}
	if best.IsZero() {
		return Version{}, fmt.Errorf("kubernetes version %s is not available; available: %s", want, List(available))
	}
	return best, nil
}

// List writes versions for a message: "1.34 (v1.34.4), 1.35 (v1.35.2)".
func List(vs []Version) string {
	var parts []string
	for _, v := range vs {
		if v.HasPatch {
			parts = append(parts, v.MinorString()+" ("+v.String()+")")
		} else {
			parts = append(parts, v.String())
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// Hops returns the versions a control plane passes through from current
// to target, one minor at a time, each the newest available patch of its
// minor (the target's own patch when it names one); empty when it is
// there already. A target that names a patch must be one the provider
// offers: a patch that does not exist is refused with those that do,
// never taken as met. A later patch of the current minor is one hop.
func Hops(current, target Version, available []Version) ([]Version, error) {
	samePatchLevel := target.HasPatch && current.HasPatch && target.CompareMinor(current) == 0
	if target.CompareMinor(current) < 0 || samePatchLevel && target.Patch < current.Patch {
		return nil, fmt.Errorf("runs %s: downgrading to %s is not supported; a blue-green upgrade moves back", current, target)
	}
	if target.HasPatch {
		if _, err := Resolve(target, available); err != nil {
			return nil, fmt.Errorf("runs %s: %w", current, err)
		}
	}
	var hops []Version
	if samePatchLevel && target.Patch > current.Patch {
		hops = append(hops, target)
	}
	for m := current.Minor + 1; m <= target.Minor; m++ {
		want := Minor(m)
		if m == target.Minor {
			want = target
		}
		r, err := Resolve(want, available)
		if err != nil {
			return nil, fmt.Errorf("runs %s and %s needs the hop to %s, which the provider cannot run: %w", current, target, want, err)
		}
		hops = append(hops, r)
	}
	return hops, nil
}

// CheckControlPlaneUpgrade says whether a control plane may go from one
// version to another: only to the same or the next minor.
func CheckControlPlaneUpgrade(from, to Version) error {
	switch {
	case to.CompareMinor(from) < 0:
		return fmt.Errorf("cannot downgrade the control plane from %s to %s: Kubernetes does not support it; use a blue-green upgrade to move back", from, to)
	case to.Major == from.Major && to.Minor > from.Minor+1:
		return fmt.Errorf("cannot upgrade the control plane from %s to %s: Kubernetes upgrades one minor version at a time; upgrade to %s first", from, to, Minor(from.Minor+1))
	}
	return nil
}

// CheckKubeletSkew enforces the version skew policy: a kubelet is never
// newer than its API server, nor more than MaxKubeletSkew minors older.
func CheckKubeletSkew(controlPlane, kubelet Version) error {
	switch {
	case kubelet.CompareMinor(controlPlane) > 0:
		return fmt.Errorf("nodes at %s would be newer than the control plane at %s: upgrade the control plane first", kubelet, controlPlane)
	case controlPlane.Minor-kubelet.Minor > MaxKubeletSkew:
		return fmt.Errorf("nodes at %s would be %d minor versions behind the control plane at %s (at most %d allowed)", kubelet, controlPlane.Minor-kubelet.Minor, controlPlane, MaxKubeletSkew)
	}
	return nil
}
