package cli

import (
	"context"
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

type versionOptions struct {
	streams Streams
	output  string
}

func newVersionCommand(s Streams) *cobra.Command {
	o := &versionOptions{streams: s}
	cmd := &cobra.Command{
		Use:   "version [-o json|yaml]",
		Short: "Print upshift's version, commit, Go version and the local fleet's Kubernetes versions",
		Args:  exactArgs(0, ""),
		RunE:  runE(o),
	}
	cmd.Flags().StringVarP(&o.output, "output", "o", outputTable, "table, json or yaml")
	return cmd
}

func (o *versionOptions) Complete(*cobra.Command, []string) error { return nil }

func (o *versionOptions) Validate() error {
	return validateOutput(o.output, outputTable, outputJSON, outputYAML)
}

func (o *versionOptions) Run(context.Context) error {
	v := currentVersion()
	if o.output != outputTable {
		return writeData(o.streams.Out, o.output, v)
	}
	commit := v.Commit
	if commit == "" {
		commit = "unknown"
	} else if v.Modified {
		commit += " (modified)"
	}
	fmt.Fprintf(o.streams.Out, "upshift %s\ncommit:      %s\ngo:          %s (%s)\nlocal fleet: Kubernetes %v\n", v.Version, commit, v.Go, v.Platform, v.LocalFleet)
	return nil
}
