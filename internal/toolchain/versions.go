package toolchain

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
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

var versionPattern = regexp.MustCompile(`^v?(\d+)\.(\d+)(?:\.(\d+))?$`)

// ResolveKubernetesVersion maps what a user typed ("1.34", "v1.34",
// "1.34.4", "v1.34.4") to a release the local fleet has.
func ResolveKubernetesVersion(s string) (Release, error) {
	return ResolveKubernetesVersionIn(s, Releases)
}

// ResolveKubernetesVersionIn resolves a version among releases.
func ResolveKubernetesVersionIn(s string, releases []Release) (Release, error) {
	m := versionPattern.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return Release{}, fmt.Errorf("kubernetes version %q is not a version: use MAJOR.MINOR or MAJOR.MINOR.PATCH, one of %s", s, available())
	}
	minor := m[1] + "." + m[2]
	for _, r := range releases {
		if r.Minor != minor {
			continue
		}
		if m[3] != "" && r.Version != "v"+minor+"."+m[3] {
			return Release{}, fmt.Errorf("kubernetes version %s is not available locally: %s is the %s release built here; available: %s", s, r.Version, minor, available())
		}
		return r, nil
	}
	return Release{}, fmt.Errorf("kubernetes version %s is not available locally; available: %s", s, available())
}

func available() string {
	var names []string
	for _, r := range Releases {
		names = append(names, r.Minor+" ("+r.Version+")")
	}
	return strings.Join(names, ", ")
}

// MinorOf returns the minor number of a version such as "v1.34.4".
func MinorOf(version string) (int, error) {
	m := versionPattern.FindStringSubmatch(version)
	if m == nil {
		return 0, fmt.Errorf("%q is not a Kubernetes version", version)
	}
	if m[1] != "1" {
		return 0, fmt.Errorf("%q is not a Kubernetes 1.x version", version)
	}
	return strconv.Atoi(m[2])
}
