package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/intstr"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/engine"
	"upshift.dev/upshift/internal/fleet"
	"upshift.dev/upshift/internal/names"
	"upshift.dev/upshift/internal/nodeimages"
	"upshift.dev/upshift/internal/nodepool"
	"upshift.dev/upshift/internal/patch"
	"upshift.dev/upshift/internal/plan"
	"upshift.dev/upshift/internal/printer"
	"upshift.dev/upshift/internal/store"
)

type patchOptions struct {
	runOptions
	req                                  patch.Request
	strategyFile, strategyName, maxSurge string
	dryRun                               bool
}

func newPatchCommand(s Streams) *cobra.Command {
	o := &patchOptions{runOptions: runOptions{streams: s}}
	req := &o.req
	cmd := &cobra.Command{
		Use:   "patch --node-image IMAGE | --cve CVE-ID... --fleet FLEET_FILE [-f STRATEGY_FILE]",
		Short: "Take a node image with a security fix to every cluster now: an emergency node-image run",
		Long: `Build and drive an emergency node-image run: every pool of every fleet cluster
moves to IMAGE (or to the first image of the catalogue that fixes every --cve),
with surge and PDB-aware drains.

The strategy's stages and gates are kept. Its emergency policy
(spec.emergency: {afterStageWait: 10m, skipApprovals: false}) shortens the
soaks and may skip approvals; each change is written to the audit log.
Maintenance windows hold the run unless --override-maintenance-windows is
given with a --reason, which the audit log records with who asked.

The report gives, per cluster, the time from the image's release to patched
(the target for a critical CVE is under 4 hours). The run is named
patch-IMAGE, so asking twice does not patch twice: resume the first run.

Exit codes: 0 every cluster patched; 1 failed; 2 bad input (nothing changed);
10 stopped.`,
		Example: `  upshift local images publish ubuntu-2204-2026.12 --cve CVE-2026-4242:Critical
  upshift patch --cve CVE-2026-4242 --fleet fleet.yaml -f strategy.yaml
  upshift patch --node-image ubuntu-2204-2026.12 --fleet fleet.yaml \
      --override-maintenance-windows --reason "CVE-2026-4242 exploited in the wild"`,
		Args: exactArgs(0, ""),
		RunE: runE(o),
	}
	o.addHome(cmd)
	o.addReportOutput(cmd)
	o.addMetrics(cmd)
	cmd.Flags().StringVar(&o.fleetFile, "fleet", "", "fleet file of upshift.dev/v1alpha1 Cluster objects (required)")
	cmd.Flags().StringVarP(&o.strategyFile, "filename", "f", "", "file holding the UpdateStrategy to compress (a run file will do); default: one stage over the whole fleet")
	cmd.Flags().StringVar(&o.strategyName, "strategy", "", "the UpdateStrategy of -f to use when it holds several")
	cmd.Flags().StringVar(&req.Image, "node-image", "", "node image to patch to (upshift local images lists them)")
	cmd.Flags().StringArrayVar(&req.CVEs, "cve", nil, "CVE the patch is for; repeat for more. Without --node-image, the first image fixing all of them")
	cmd.Flags().BoolVar(&req.OverrideWindows, "override-maintenance-windows", false, "start steps outside maintenance windows (needs --reason; recorded in the audit log)")
	cmd.Flags().StringVar(&req.Reason, "reason", "", "why windows are overridden")
	cmd.Flags().StringVar(&req.By, "by", "", "who asks for the patch (recorded with the OS user)")
	cmd.Flags().StringVar(&o.maxSurge, "max-surge", "50%", "extra nodes per pool during the replacement: a count or a percentage")
	cmd.Flags().DurationVar(&req.DrainTimeout, "drain-timeout", nodepool.DefaultDrainTimeout, "how long a node's drain may wait on pod disruption budgets")
	cmd.Flags().StringVar(&req.Name, "name", "", "run name (default patch-IMAGE)")
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "show the compressed plan and create nothing")
	return cmd
}

func (o *patchOptions) Complete(*cobra.Command, []string) error {
	o.printer = printer.New(o.streams.Err)
	if o.req.By == "" {
		o.req.By = currentUser()
	} else {
		o.req.By += " (as " + currentUser() + ")"
	}
	return nil
}

func (o *patchOptions) Validate() error {
	if o.fleetFile == "" {
		return usagef("--fleet FLEET_FILE is required")
	}
	if o.req.Image == "" && len(o.req.CVEs) == 0 {
		return usagef("name the fix: --node-image IMAGE, or --cve CVE-ID to take the first image that fixes it")
	}
	if o.req.OverrideWindows && strings.TrimSpace(o.req.Reason) == "" {
		return usagef("--override-maintenance-windows needs --reason: the audit log records why windows were overridden")
	}
	if o.req.Name != "" {
		if err := names.Subdomain("run", o.req.Name); err != nil {
			return err
		}
	}
	ms := intstr.Parse(o.maxSurge)
	if _, err := intstr.GetScaledValueFromIntOrPercent(&ms, 100, true); err != nil || (ms.Type == intstr.Int && ms.IntVal < 1) {
		return usagef("--max-surge %q: use a count such as 3 or a percentage such as 50%%", o.maxSurge)
	}
	o.req.MaxSurge = ms
	return nil
}

func (o *patchOptions) Run(ctx context.Context) error {
	return o.emergencyPatch(ctx, o.req, o.strategyFile, o.strategyName, o.dryRun)
}

// emergencyPatch builds, stores and drives an emergency patch run over
// --fleet (upshift patch; the demo's patch part).
func (o *runOptions) emergencyPatch(ctx context.Context, req patch.Request, strategyFile, strategyName string, dryRun bool) error {
	s := o.streams
	clusters, err := o.readFleet()
	if err != nil {
		return err
	}
	if strategyFile != "" {
		data, err := os.ReadFile(strategyFile)
		if err != nil {
			return usageError{Err: err}
		}
		if req.Strategy, err = plan.ParseStrategy(strategyFile, data, strategyName); err != nil {
			return usageError{Err: err}
		}
	}
	e := o.engine(clusters)
	feed, err := catalogue(ctx, e, clusters)
	if err != nil {
		return err
	}
	img, err := patch.PickImage(feed, req.Image, req.CVEs)
	if err != nil {
		return usageError{Err: err}
	}
	named, err := namedImages(ctx, e, clusters, feed, img, req.CVEs)
	if err != nil {
		return usageError{Err: err}
	}
	run, strategy, changes := patch.Build(req, img, clusters)
	o.printer.Action("emergency patch to node image %s, released %s%s", img.Version, img.Released.UTC().Format(time.RFC3339), fixes(img, req.CVEs))
	for _, n := range named {
		o.printer.Action("%s", n)
	}
	for _, c := range changes {
		o.printer.Action("emergency policy: %s", c)
	}
	if dryRun {
		p, err := e.Plan(ctx, run, strategy)
		if err != nil {
			return initError(err)
		}
		printPlan(s.Out, viewOf(p, nil))
		o.printer.Success("dry run: run %s was not created", run.Name)
		return nil
	}
	p, err := o.initialize(ctx, e, run, strategy)
	if err != nil {
		return err
	}
	st := o.store()
	audit := func(typ, msg string) {
		_ = st.Audit(run.Name, store.Event{Time: time.Now().UTC(), Type: typ, Message: msg})
	}
	audit(store.EventEmergencyPatch, fmt.Sprintf("node image %s released %s%s, requested by %s", img.Version, img.Released.UTC().Format(time.RFC3339), fixes(img, req.CVEs), req.By))
	for _, n := range named {
		audit(store.EventEmergencyPatch, n)
	}
	for _, c := range changes {
		audit(store.EventEmergencyPolicy, c)
	}
	if req.OverrideWindows {
		audit(store.EventWindowsOverride, fmt.Sprintf("maintenance windows overridden by %s: %s", req.By, req.Reason))
		o.printer.Waiting("maintenance windows are overridden (recorded in the audit log): %s", req.Reason)
	}
	printPlan(s.Out, viewOf(p, nil))
	return o.drive(ctx, e, run.Name)
}

func fixes(img nodeimages.Image, cves []string) string {
	var ids []string
	for _, c := range img.Fixes {
		ids = append(ids, c.ID+" ("+c.Severity+")")
	}
	out := ""
	if len(ids) > 0 {
		out = ", fixing " + strings.Join(ids, ", ")
	}
	if len(cves) > 0 {
		out += "; for " + strings.Join(cves, ", ")
	}
	return out
}

// readFleet reads --fleet.
func (o *runOptions) readFleet() ([]v1alpha1.Cluster, error) {
	data, err := os.ReadFile(o.fleetFile)
	if err != nil {
		return nil, usageError{Err: err}
	}
	clusters, err := fleet.Parse(o.fleetFile, data)
	if err != nil {
		return nil, usageError{Err: err}
	}
	return clusters, nil
}

// catalogue is the node-image catalogue of the fleet's providers: the
// first cluster whose provider keeps one.
func catalogue(ctx context.Context, e *engine.Engine, clusters []v1alpha1.Cluster) (*nodeimages.Feed, error) {
	for _, c := range clusters {
		m, err := e.Resolve(c)
		if err != nil {
			return nil, usageError{Err: &engine.UnresolvedError{Cluster: c.Name, Err: err}}
		}
		if ni, ok := m.Provider.(nodeimages.Source); ok {
			return ni.NodeImages(ctx)
		}
	}
	return nil, usagef("no cluster of the fleet has a provider with a node-image catalogue (the local provider has one), so no image is known to fix a CVE; aks pools can still be taken to the image AKS names for each: an update run with upgrade.type NodeImageOnly (nodeImageSelection Latest)")
}

// namedImages judges, for each pool of a provider that names the one image
// the pool can move to (AKS), that image against the patch's: a pool that
// would not get the fix is refused before anything is created; the others
// may move elsewhere than img, each said in a note.
func namedImages(ctx context.Context, e *engine.Engine, clusters []v1alpha1.Cluster, feed *nodeimages.Feed, img nodeimages.Image, cves []string) ([]string, error) {
	var notes []string
	for _, c := range clusters {
		m, err := e.Resolve(c)
		if err != nil {
			return nil, &engine.UnresolvedError{Cluster: c.Name, Err: err}
		}
		ps, ok := m.Provider.(nodeimages.PoolSource)
		if !ok {
			continue
		}
		got, err := m.Provider.Get(ctx, m.Name)
		if err != nil {
			notes = append(notes, fmt.Sprintf("cluster %s: the images its provider names could not be read (%v); its steps read them again", c.Name, err))
			continue
		}
		for _, np := range got.NodePools {
			named, err := ps.NewestPoolImage(ctx, m.Name, np.Name)
			if err != nil {
				return nil, err
			}
			note, err := patch.NamedImage(feed, img, cves, fmt.Sprintf("pool %s of %s", np.Name, c.Name), named)
			if err != nil {
				return nil, err
			}
			if note != "" {
				notes = append(notes, note)
			}
		}
	}
	return notes, nil
}

// writePatch reports an emergency patch: per cluster, the time from the
// image's release to patched.
func writePatch(w io.Writer, run *v1alpha1.UpdateRun) {
	p := run.Spec.Patch
	fmt.Fprintf(w, "  emergency patch: node image %s, released %s", p.NodeImage, p.Released.UTC().Format(time.RFC3339))
	if len(p.CVEs) > 0 {
		fmt.Fprintf(w, ", for %s", strings.Join(p.CVEs, ", "))
	}
	fmt.Fprintf(w, " (target: every cluster within %s of the release)\n", patch.Target)
	if p.OverrideMaintenanceWindows {
		fmt.Fprintf(w, "    maintenance windows overridden by %s: %s\n", p.RequestedBy, p.Reason)
	}
	for _, c := range patch.Report(run) {
		switch {
		case c.After > 0:
			verdict := "within target"
			if c.After > patch.Target {
				verdict = "over target"
			}
			fmt.Fprintf(w, "    %s: patched %s after the release (%s)\n", c.Cluster, c.After.Round(time.Second), verdict)
		default:
			fmt.Fprintf(w, "    %s: not patched (%s)\n", c.Cluster, c.Phase)
		}
	}
}
