package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"upshift.dev/upshift/internal/fleet"
	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/providers/fleetmember"
	"upshift.dev/upshift/internal/scancli"
	"upshift.dev/upshift/internal/toolchain"
)

// newScanCommand is `upshift scan`: the scan commands, with fleet files
// resolved through upshift's cluster providers.
func newScanCommand(s Streams) *cobra.Command {
	return scancli.NewCommand(s, scancli.Options{Name: "upshift scan", Fleet: fleetTargets, DefaultHome: localfleet.DefaultHome()})
}

// fleetTargets resolves a fleet file's clusters to scan, each through the
// provider its spec names.
func fleetTargets(fleetFile, home string) ([]scancli.Target, error) {
	clusters, err := fleet.Load(fleetFile)
	if err != nil {
		return nil, usageError{Err: err}
	}
	resolve := fleetmember.NewResolver(fleetmember.Env{Home: home, CacheDir: toolchain.DefaultCacheDir()})
	var out []scancli.Target
	for _, c := range clusters {
		t := scancli.Target{Name: c.Name}
		if m, err := resolve(c); err != nil {
			t.Err = fmt.Errorf("cluster %s: %w", c.Name, err)
		} else {
			t.Config = m.RESTConfig
		}
		out = append(out, t)
	}
	return out, nil
}
