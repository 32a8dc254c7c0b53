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
// first. Adjacent minors make a control-plane upgrade a real upgrade.
var Releases = []Release{
	{Minor: "1.33", Version: "v1.33.13"},
	{Minor: "1.34", Version: "v1.34.4"},
}

// Pinned versions of the other local fleet binaries.
const (
	EtcdVersion = "v3.6.16"
	KwokVersion = "v0.7.0"
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
