package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"upshift.dev/upshift/internal/toolchain"
)

// version is set at build time (-ldflags "-X upshift.dev/upshift/internal/cli.version=v0.3.0");
// otherwise the module's version from the build info is used.
var version = ""

// commit is set at build time by make build (git rev-parse) for builds
// whose build info carries no VCS stamp.
var commit = ""

// VersionInfo is what `upshift version` reports.
type VersionInfo struct {
	Version string `json:"version"`
	Commit  string `json:"commit,omitempty"`
	// Modified says the build had uncommitted changes.
	Modified bool   `json:"modified,omitempty"`
	Go       string `json:"go"`
	Platform string `json:"platform"`
	// LocalFleet are the Kubernetes versions `upshift local` runs.
	LocalFleet []string `json:"localFleetKubernetesVersions"`
}

func currentVersion() VersionInfo {
	v := VersionInfo{Version: version, Commit: commit, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v.Version == "" {
			v.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				v.Commit = s.Value
			case "vcs.modified":
				v.Modified = s.Value == "true"
			}
		}
	}
	if v.Version == "" {
		v.Version = "(devel)"
	}
	for _, r := range toolchain.Releases {
		v.LocalFleet = append(v.LocalFleet, r.Version)
	}
	return v
}

func newVersionCommand(s Streams) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version [-o json|yaml]",
		Short: "Print upshift's version, commit, Go version and the local fleet's Kubernetes versions",
		Args:  exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := validateOutput(output, outputTable, outputJSON, outputYAML); err != nil {
				return err
			}
			v := currentVersion()
			if output != outputTable {
				return writeData(s.Out, output, v)
			}
			commit := v.Commit
			if commit == "" {
				commit = "unknown"
			} else if v.Modified {
				commit += " (modified)"
			}
			fmt.Fprintf(s.Out, "upshift %s\ncommit:      %s\ngo:          %s (%s)\nlocal fleet: Kubernetes %v\n", v.Version, commit, v.Go, v.Platform, v.LocalFleet)
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", outputTable, "table, json or yaml")
	return cmd
}
