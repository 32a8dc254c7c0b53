package toolchain

import (
	"fmt"

	"upshift.dev/upshift/internal/kubeversion"
)

// Release is one Kubernetes release the local fleet can run.
type Release struct {
	Minor   string // "1.34"
	Version string // "v1.34.4", the gitVersion /version reports
}

// Releases are the Kubernetes versions the local fleet can run, oldest
// first: the three minors users upgrade through today. Adjacent minors make
// a control-plane upgrade a real upgrade; three make a two-hop run real.
var Releases = []Release{
	{Minor: "1.35", Version: "v1.35.4"},
	{Minor: "1.36", Version: "v1.36.3"},
	{Minor: "1.37", Version: "v1.37.2"},
}

// Latest is the newest release: what the demo and the tests upgrade to.
func Latest() Release { return Releases[len(Releases)-1] }

// Previous is the release one minor below Latest: what the demo and the
// tests upgrade from.
func Previous() Release { return Releases[len(Releases)-2] }

// Oldest is the first release, two minors below Latest: where a two-hop
// run starts.
func Oldest() Release { return Releases[0] }

// Pinned versions of the other local fleet binaries.
const (
	EtcdVersion = "v3.7.3" // the minor Kubernetes 1.37 is tested with (its build/dependencies.yaml)
	KwokVersion = "v0.8.0"
)

// Parsed is the release's version.
func (r Release) Parsed() kubeversion.Version { return kubeversion.MustParse(r.Version) }

// Versions are the releases' versions, oldest first.
func Versions(releases []Release) []kubeversion.Version {
	var out []kubeversion.Version
	for _, r := range releases {
		out = append(out, r.Parsed())
	}
	return out
}

// ResolveKubernetesVersion maps what a user typed ("1.34", "v1.34",
// "1.34.4", "v1.34.4") to a release the local fleet has.
func ResolveKubernetesVersion(s string) (Release, error) {
	want, err := kubeversion.Parse(s)
	if err != nil {
		return Release{}, fmt.Errorf("kubernetes version %q is not a version: use MAJOR.MINOR or MAJOR.MINOR.PATCH, one of %s", s, available())
	}
	for _, r := range Releases {
		v := r.Parsed()
		if want.Matches(v) {
			return r, nil
		}
		if want.CompareMinor(v) == 0 {
			return Release{}, fmt.Errorf("kubernetes version %s is not available locally: %s is the %s release built here; available: %s", s, r.Version, r.Minor, available())
		}
	}
	return Release{}, fmt.Errorf("kubernetes version %s is not available locally; available: %s", s, available())
}

func available() string { return kubeversion.List(Versions(Releases)) }
