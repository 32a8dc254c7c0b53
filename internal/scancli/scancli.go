package scancli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"upshift.dev/upshift/internal/cmdkit"
	"upshift.dev/upshift/internal/printer"
	"upshift.dev/upshift/internal/restconfig"
	"upshift.dev/upshift/internal/scan/apis"
	"upshift.dev/upshift/internal/scan/chart"
	"upshift.dev/upshift/internal/scan/manifest"
	"upshift.dev/upshift/internal/scan/readiness"
	"upshift.dev/upshift/internal/scan/report"
	"upshift.dev/upshift/internal/scan/rules"
)

// Options are what the binary that holds the scan commands gives them.
type Options struct {
	// Name is how users call the scan commands' parent ("upshift scan",
	// "upshift-scan"), for the help's examples.
	Name string
	// Fleet resolves a fleet file's clusters (upshift's providers); nil:
	// no --fleet, and the binary stays free of the providers.
	Fleet FleetResolver
	// DefaultHome is --home's default, the local fleet's state folder
	// (with Fleet).
	DefaultHome string
}

// FleetResolver resolves the clusters of a fleet file to scan; home is
// the local fleet's state folder. An error is bad input (the file);
// a cluster that cannot be reached is a Target with Err set.
type FleetResolver func(fleetFile, home string) ([]Target, error)

// Target is one cluster to scan.
type Target struct {
	Name   string
	Config *rest.Config
	Err    error // the cluster cannot be reached; the others are still scanned
}

// NewCommand is `scan`, with its subcommands apis and readiness.
func NewCommand(s cmdkit.Streams, opts Options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "scan",
		Short: "Find what an upgrade will break: removed APIs, workloads that block or suffer from drains",
	}
	cmd.AddCommand(newScanAPIsCommand(s, opts), newScanReadinessCommand(s, opts))
	return cmd
}

// fleetUsage is the --fleet part of a usage line, when there is a --fleet.
func (opts Options) fleetUsage() string {
	if opts.Fleet == nil {
		return ""
	}
	return " [--fleet FILE]"
}

// scanSources are the flags that say where to look.
type scanSources struct {
	opts       Options
	kubeconfig string
	contexts   []string
	fleetFile  string
	home       string
}

func (o *scanSources) addFlags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig of the cluster (default $KUBECONFIG or ~/.kube/config)")
	cmd.Flags().StringArrayVar(&o.contexts, "context", nil, "kubeconfig context to scan, repeatable (default the current context)")
	if o.opts.Fleet != nil {
		cmd.Flags().StringVar(&o.fleetFile, "fleet", "", "fleet file of upshift.dev/v1alpha1 Cluster objects: scan every cluster, one report")
		cmd.Flags().StringVar(&o.home, "home", o.opts.DefaultHome, "local fleet state folder, for fleet files naming local clusters")
	}
}

func (o *scanSources) live() bool {
	return o.kubeconfig != "" || len(o.contexts) > 0 || o.fleetFile != ""
}

// targets resolves the clusters to scan; with no flag, the current context.
func (o *scanSources) targets() ([]Target, error) {
	if o.fleetFile != "" {
		return o.opts.Fleet(o.fleetFile, o.home)
	}
	contexts := o.contexts
	if len(contexts) == 0 {
		contexts = []string{""}
	}
	var out []Target
	for _, ctx := range contexts {
		cfg, err := restconfig.FromKubeconfig(o.kubeconfig, ctx)
		if err != nil {
			return nil, cmdkit.UsageError{Err: err}
		}
		name := ctx
		if name == "" {
			name = "current-context"
		}
		out = append(out, Target{name, cfg, nil})
	}
	return out, nil
}

type scanAPIsOptions struct {
	streams cmdkit.Streams
	scanSources
	target  string
	files   []string
	output  string
	verbose bool
	charts  chart.Options
	addons  []string

	targetVersion rules.Version
	addonVersions map[string]rules.Version
	rules         *rules.Table // built once: Validate needs its add-ons
}

func newScanAPIsCommand(s cmdkit.Streams, opts Options) *cobra.Command {
	o := &scanAPIsOptions{streams: s, scanSources: scanSources{opts: opts}}
	fleetSource := ""
	if opts.Fleet != nil {
		fleetSource = "  --fleet FILE   every cluster of a fleet file, one report\n"
	}
	cmd := &cobra.Command{
		Use:   "apis --target-version VERSION [-f PATH]... [--context CTX]..." + opts.fleetUsage(),
		Short: "Find deprecated and removed API versions in manifests, live clusters and Helm releases",
		Long: `Find deprecated and removed API versions before an upgrade.

Sources, in any combination:
  -f PATH        manifest files and folders (YAML streams, JSON, List kinds); -f - reads stdin.
                 A folder holding Chart.yaml, or a packaged chart's .tgz, is rendered as
                 helm template renders it (its values, then --values and --set), for the
                 target version, and findings name the template file and line
  --context CTX  a live cluster: last-applied-configuration annotations cross-checked with
                 managedFields, Helm 3 release records (latest deployed revision), and the
                 API server's apiserver_requested_deprecated_apis metric
` + fleetSource + `With no source, the kubeconfig's current context is scanned.

Exit codes: 0 clean; 4 deprecated APIs only; 5 APIs removed in the target version;
6 some input could not be read (and nothing worse); 1 the scan failed; 2 bad input.`,
		Example: `  ` + opts.Name + ` apis --target-version 1.37 -f manifests/
  ` + opts.Name + ` apis --target-version 1.37 -f ./chart --values prod-values.yaml --set ingress.enabled=true
  kustomize build overlays/prod | ` + opts.Name + ` apis --target-version 1.37 -f -
  ` + opts.Name + ` apis --target-version 1.37 --context prod -o sarif > apis.sarif`,
		Args: cmdkit.ExactArgs(0, ""),
		RunE: cmdkit.RunE(o),
	}
	cmd.Flags().StringVar(&o.target, "target-version", "", "Kubernetes version you upgrade to, e.g. 1.37 (required)")
	cmd.Flags().StringArrayVarP(&o.files, "filename", "f", nil, "manifest file or folder, repeatable; - for stdin")
	cmd.Flags().StringVarP(&o.output, "output", "o", "table", "table, json, yaml, sarif, junit, or policyreport (wgpolicyk8s.io/v1alpha2 PolicyReports to kubectl apply)")
	cmd.Flags().StringArrayVar(&o.addons, "target", nil, "an add-on's release to check its APIs against, as ADDON=VERSION (cert-manager=1.6, istio=1.6); repeatable")
	cmd.Flags().StringArrayVar(&o.charts.ValueFiles, "values", nil, "values file for the charts among -f, as helm template --values; repeatable, later ones win")
	cmd.Flags().StringArrayVar(&o.charts.Set, "set", nil, "value for the charts among -f, as helm template --set (key=value[,key=value]); repeatable")
	cmd.Flags().StringArrayVar(&o.charts.SetString, "set-string", nil, "string value for the charts among -f, as helm template --set-string; repeatable")
	cmd.Flags().BoolVarP(&o.verbose, "verbose", "v", false, "also list the documents skipped as no Kubernetes objects (Chart.yaml, values.yaml, …)")
	o.addFlags(cmd)
	return cmd
}

func (o *scanAPIsOptions) Complete(*cobra.Command, []string) error { return nil }

func (o *scanAPIsOptions) Validate() error {
	if o.target == "" {
		return cmdkit.Usagef("--target-version is required: the Kubernetes version you upgrade to, e.g. 1.37")
	}
	var err error
	if o.targetVersion, err = parseTarget(o.target); err != nil {
		return err
	}
	o.rules = rules.Default()
	if o.addonVersions, err = parseAddons(o.rules, o.addons); err != nil {
		return err
	}
	o.charts.Target = o.targetVersion
	if _, err := o.charts.Values(); err != nil {
		return cmdkit.UsageError{Err: err}
	}
	if len(o.files) == 0 && len(o.charts.ValueFiles)+len(o.charts.Set)+len(o.charts.SetString) > 0 {
		return cmdkit.Usagef("--values, --set and --set-string are for charts: name the chart's folder with -f")
	}
	for _, f := range o.files {
		// A path that does not exist is a typo, not an input that failed.
		if _, err := os.Stat(f); f != "-" && errors.Is(err, fs.ErrNotExist) {
			return cmdkit.Usagef("-f %s: no such file or folder", f)
		}
	}
	return cmdkit.ValidateOutput(o.output, report.Formats...)
}

func (o *scanAPIsOptions) Run(ctx context.Context) error {
	p := printer.New(o.streams.Err)
	scanner := &apis.Scanner{Rules: o.rules, Target: o.targetVersion, Addons: o.addonVersions}
	rep := &report.Report{Scan: "apis", TargetVersion: o.targetVersion.String()}
	if known := rules.KnownThrough(); o.targetVersion.CompareMinor(known) > 0 {
		note := fmt.Sprintf("the rules know Kubernetes APIs through %s: an API deprecated or removed after %s is not found by this scan", known, known)
		rep.Notes = append(rep.Notes, note)
		p.Action("%s", note)
	}
	if len(o.files) > 0 {
		// Charts are rendered one at a time, while the folders are walked.
		o.charts.Rules = scanner.Rules
		charts := 0
		readChart := func(path string) ([]manifest.Object, []error) {
			charts++
			r := chart.Render(path, o.charts)
			rep.Findings = append(rep.Findings, r.Findings...)
			for _, n := range r.Notes {
				rep.Notes = append(rep.Notes, n)
				p.Action("%s", n)
			}
			return r.Objects, r.Errors
		}
		objs, errs := manifest.ReadPaths(o.files, o.streams.In, readChart)
		source := fmt.Sprintf("%d manifest object(s) from %s", len(objs), strings.Join(o.files, ", "))
		if charts > 0 {
			source += fmt.Sprintf(" (%d Helm chart(s) rendered for %s)", charts, o.targetVersion)
		}
		rep.Sources = append(rep.Sources, source)
		rep.Findings = append(rep.Findings, scanner.Manifests(objs)...)
		for _, err := range errs {
			if manifest.IsNotObject(err) {
				rep.Skipped = append(rep.Skipped, err.Error())
				if o.verbose {
					p.Action("skipped %s", err)
				}
				continue
			}
			rep.Errors = append(rep.Errors, err.Error())
		}
	}
	if len(o.files) == 0 || o.live() {
		targets, err := o.targets()
		if err != nil {
			return err
		}
		for _, t := range targets {
			if t.Err != nil {
				rep.Errors = append(rep.Errors, t.Err.Error())
				continue
			}
			p.Action("scanning cluster %s", t.Name)
			findings, errs := scanner.Cluster(ctx, t.Name, t.Config)
			rep.Sources = append(rep.Sources, "cluster "+t.Name)
			rep.Findings = append(rep.Findings, findings...)
			for _, err := range errs {
				rep.Errors = append(rep.Errors, err.Error())
			}
		}
	}
	return finishScan(o.streams, p, rep, o.output, "")
}

func finishScan(s cmdkit.Streams, p *printer.Printer, rep *report.Report, output, failOn string) error {
	rep.Finish()
	if err := rep.Write(s.Out, output); err != nil {
		return err
	}
	code := rep.ExitCode(failOn)
	if output != "table" {
		// The table ends with the summary; data formats keep stdout clean.
		if code == report.ExitClean {
			p.Success("%s", rep.SummaryLine())
		} else {
			p.Failure("%s", rep.SummaryLine())
		}
	}
	if code != report.ExitClean {
		return cmdkit.ExitCode(code)
	}
	return nil
}

type scanReadinessOptions struct {
	streams cmdkit.Streams
	scanSources
	target        string
	output        string
	failOn        string
	includeSystem bool

	targetVersion rules.Version
}

func newScanReadinessCommand(s cmdkit.Streams, opts Options) *cobra.Command {
	o := &scanReadinessOptions{streams: s, scanSources: scanSources{opts: opts}}
	cmd := &cobra.Command{
		Use:   "readiness [--context CTX]..." + opts.fleetUsage() + " [--target-version VERSION]",
		Short: "Audit the workloads a drain will touch: blocking budgets, single replicas, probes, naked pods, skew",
		Long: `Audit a live cluster's workloads for what hurts during node drains and upgrades.

Exit codes: 0 nothing at or above --fail-on; 7 findings at or above --fail-on;
6 a cluster could not be read; 1 the scan failed; 2 bad input.`,
		Args: cmdkit.ExactArgs(0, ""),
		RunE: cmdkit.RunE(o),
	}
	cmd.Flags().StringVar(&o.target, "target-version", "", "Kubernetes version you upgrade to, for skew checks")
	cmd.Flags().StringVarP(&o.output, "output", "o", "table", "table, json, yaml, sarif, junit, or policyreport (wgpolicyk8s.io/v1alpha2 PolicyReports to kubectl apply)")
	cmd.Flags().StringVar(&o.failOn, "fail-on", report.SeverityError, "lowest severity that fails the scan: error, warning, info or none")
	cmd.Flags().BoolVar(&o.includeSystem, "include-system-namespaces", false, "also audit kube-system, kube-public and kube-node-lease")
	o.addFlags(cmd)
	return cmd
}

func (o *scanReadinessOptions) Complete(*cobra.Command, []string) error { return nil }

func (o *scanReadinessOptions) Validate() error {
	if err := cmdkit.ValidateOutput(o.output, report.Formats...); err != nil {
		return err
	}
	if err := cmdkit.ValidateOutput(o.failOn, report.SeverityError, report.SeverityWarning, report.SeverityInfo, "none"); err != nil {
		return cmdkit.Usagef("--fail-on %q: use error, warning, info or none", o.failOn)
	}
	if o.target != "" {
		var err error
		if o.targetVersion, err = parseTarget(o.target); err != nil {
			return err
		}
	}
	return nil
}

// parseAddons reads --target ADDON=VERSION; an add-on the rules do not
// know, or a version that is none, is bad input.
func parseAddons(t *rules.Table, in []string) (map[string]rules.Version, error) {
	known := t.Components()
	out := map[string]rules.Version{}
	for _, a := range in {
		name, version, ok := strings.Cut(a, "=")
		switch {
		case !ok:
			return nil, cmdkit.Usagef("--target %q: write ADDON=VERSION, e.g. cert-manager=1.6", a)
		case name == "k8s" || name == "kubernetes":
			return nil, cmdkit.Usagef("--target %q: Kubernetes' version is --target-version", a)
		case !slices.Contains(known, name):
			return nil, cmdkit.Usagef("--target %q: no rules for add-on %q; the rules know %s", a, name, strings.Join(known, ", "))
		}
		v, err := rules.ParseAddonVersion(version)
		if err != nil {
			return nil, cmdkit.Usagef("--target %s: %v", a, err)
		}
		out[name] = v
	}
	return out, nil
}

// parseTarget reads --target-version; a version that is not one is bad
// input.
func parseTarget(target string) (rules.Version, error) {
	v, err := rules.ParseVersion(target)
	if err != nil {
		return v, cmdkit.UsageError{Err: fmt.Errorf("--target-version: %w", err)}
	}
	return v, nil
}

func (o *scanReadinessOptions) Run(ctx context.Context) error {
	p := printer.New(o.streams.Err)
	target := o.targetVersion
	targets, err := o.targets()
	if err != nil {
		return err
	}
	rep := &report.Report{Scan: "readiness", TargetVersion: target.String()}
	for _, t := range targets {
		if t.Err != nil {
			rep.Errors = append(rep.Errors, t.Err.Error())
			continue
		}
		p.Action("auditing cluster %s", t.Name)
		rep.Sources = append(rep.Sources, "cluster "+t.Name)
		client, err := kubernetes.NewForConfig(t.Config)
		if err != nil {
			rep.Errors = append(rep.Errors, err.Error())
			continue
		}
		inv, err := readiness.Load(ctx, t.Name, client, o.includeSystem)
		if err != nil {
			rep.Errors = append(rep.Errors, fmt.Sprintf("cluster %s: %v", t.Name, err))
			continue
		}
		inv.TargetVersion = target
		rep.Findings = append(rep.Findings, readiness.Run(inv)...)
	}
	return finishScan(o.streams, p, rep, o.output, o.failOn)
}

// Main runs upshift-scan, the scan commands alone, with args and returns
// the process exit code: the same commands, flags, reports and exit codes
// as `upshift scan`, without --fleet.
func Main(ctx context.Context, args []string, s cmdkit.Streams) int {
	root := NewCommand(s, Options{Name: "upshift-scan"})
	root.Use = "upshift-scan"
	root.Long = `upshift-scan finds what a Kubernetes upgrade will break: removed and
deprecated APIs in manifests, Helm output, live clusters and their Helm
releases (apis), and workloads that block or suffer from node drains
(readiness). It is upshift's scan alone, a small binary for CI pipelines;
` + "`upshift scan`" + ` is the same, and also scans every cluster of a fleet file.`
	if bi, ok := debug.ReadBuildInfo(); ok {
		root.Version = bi.Main.Version
	}
	cmdkit.Root(root, s)
	cmdkit.RefuseUnknownCommands(root)
	return cmdkit.Execute(ctx, root, args, s)
}
