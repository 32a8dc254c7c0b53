package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/drainsim"
	"upshift.dev/upshift/internal/engine"
	"upshift.dev/upshift/internal/exitcode"
	"upshift.dev/upshift/internal/plan"
)

type planOptions struct {
	startOptions
	output   string
	simulate bool
}

func newPlanCommand(s Streams) *cobra.Command {
	o := &planOptions{startOptions: startOptions{runOptions: runOptions{streams: s}}}
	cmd := &cobra.Command{
		Use:   "plan -f RUN_FILE --fleet FLEET_FILE [--stages STAGES_JSON] [--simulate [-o sarif|junit]] [-o table|json|yaml]",
		Short: "Show what a run would do — stages, groups, clusters, steps — without doing it",
		Long: `Show what a run would do — stages, groups, clusters, steps — without doing it.

With --simulate, each NodePool step is replayed against its cluster as it
is now, read-only: the surge nodes the upgrade adds, the old nodes drained
in the order and batches it uses, each eviction checked against the
PodDisruptionBudgets as they will stand then, each evicted pod's
replacement placed on the nodes left (requests, selectors and affinity,
taints, anti-affinity), and the first eviction of each workload confirmed
with a server-side dry-run eviction. It names what will block the drain
(batch, node, pod, budget, what to change) and predicts how long the pool
takes, from this home's measured runs of the provider or from defaults;
each figure says which. With -o sarif or junit, only the replay's
blockers (errors) and warnings are written, as the scan writes findings,
for a pipeline's code-scanning view. Exit 12 when a drain is predicted not
to finish.`,
		Example: `  upshift plan -f run.yaml --fleet fleet.yaml --simulate`,
		Args:    exactArgs(0, ""),
		RunE:    runE(o),
	}
	o.addHome(cmd)
	o.addInputs(cmd)
	cmd.Flags().StringVarP(&o.output, "output", "o", outputTable, "table, json or yaml; with --simulate also sarif or junit (the replay's findings alone)")
	cmd.Flags().BoolVar(&o.simulate, "simulate", false, "replay each node pool's upgrade against its cluster, read-only: blockers and duration")
	return cmd
}

func (o *planOptions) Validate() error {
	if o.output == "sarif" || o.output == "junit" {
		if !o.simulate {
			return usagef("-o %s writes the findings of --simulate: add --simulate, or use -o table|json|yaml", o.output)
		}
		return o.startOptions.Validate()
	}
	if err := validateOutput(o.output, outputTable, outputJSON, outputYAML); err != nil {
		return err
	}
	return o.startOptions.Validate()
}

// planView is a plan as plan prints it, and as -o json|yaml writes it:
// each step by its name.
type planView struct {
	NodeImage string          `json:"nodeImage,omitempty"`
	Stages    []planStageView `json:"stages"`
}

type planStageView struct {
	Name           string               `json:"name"`
	MaxConcurrency string               `json:"maxConcurrency"`
	Before         []v1alpha1.StageTask `json:"beforeStageTasks,omitempty"`
	After          []v1alpha1.StageTask `json:"afterStageTasks,omitempty"`
	Groups         []planGroupView      `json:"groups"`
}

type planGroupView struct {
	Name     string            `json:"name"`
	Clusters []planClusterView `json:"clusters"`
}

type planClusterView struct {
	Name        string   `json:"name"`
	FromVersion string   `json:"fromVersion"`
	Steps       []string `json:"steps"`
	Notes       []string `json:"notes,omitempty"`
	// Simulations are the replays of its NodePool steps (--simulate).
	Simulations []drainsim.Replay `json:"simulations,omitempty"`
}

func viewOf(p *plan.Plan, sims []drainsim.Replay) planView {
	v := planView{NodeImage: p.NodeImage, Stages: []planStageView{}}
	for _, st := range p.Stages {
		sv := planStageView{Name: st.Name, MaxConcurrency: st.MaxConcurrency.String(), Before: st.Before, After: st.After, Groups: []planGroupView{}}
		for _, g := range st.Groups {
			gv := planGroupView{Name: g.Name, Clusters: []planClusterView{}}
			for _, c := range g.Clusters {
				cv := planClusterView{Name: c.Name, FromVersion: c.FromVersion, Steps: []string{}, Notes: c.Notes}
				for _, step := range c.Steps {
					cv.Steps = append(cv.Steps, step.Name())
				}
				for _, sim := range sims {
					if sim.Cluster == c.Name {
						cv.Simulations = append(cv.Simulations, sim)
					}
				}
				gv.Clusters = append(gv.Clusters, cv)
			}
			sv.Groups = append(sv.Groups, gv)
		}
		v.Stages = append(v.Stages, sv)
	}
	return v
}

func (o *planOptions) Run(ctx context.Context) error {
	eng := o.engine(o.clusters)
	p, err := eng.Plan(ctx, o.run, o.strategy)
	if err != nil {
		return initError(err)
	}
	var sims []drainsim.Replay
	if o.simulate {
		runs, err := o.store().List()
		if err != nil {
			return fmt.Errorf("reading this home's runs for measured timings: %w", err)
		}
		sims = eng.SimulatePools(ctx, o.run, o.strategy, p, engine.Timings(drainsim.History(runs)))
	}
	v := viewOf(p, sims)
	switch o.output {
	case "sarif", "junit":
		if err := drainsim.Report(sims).Write(o.streams.Out, o.output); err != nil {
			return err
		}
	case outputTable:
		printPlan(o.streams.Out, v)
	default:
		if err := writeData(o.streams.Out, o.output, v); err != nil {
			return err
		}
	}
	for _, sim := range sims {
		if sim.Result != nil && len(sim.Blockers) > 0 {
			return exitCode(exitcode.DrainBlocked)
		}
	}
	return nil
}

func printPlan(w io.Writer, v planView) {
	if v.NodeImage != "" {
		fmt.Fprintf(w, "node image: %s\n", v.NodeImage)
	}
	for i, st := range v.Stages {
		fmt.Fprintf(w, "stage %d: %s (maxConcurrency %s per group)\n", i+1, st.Name, st.MaxConcurrency)
		for _, t := range st.Before {
			fmt.Fprintf(w, "  before: %s\n", describeTask(t))
		}
		for _, g := range st.Groups {
			fmt.Fprintf(w, "  group %s\n", g.Name)
			for _, c := range g.Clusters {
				fmt.Fprintf(w, "    %s (%s): %s\n", c.Name, c.FromVersion, strings.Join(c.Steps, " → "))
				for _, n := range c.Notes {
					fmt.Fprintf(w, "      note: %s\n", n)
				}
				for _, sim := range c.Simulations {
					printSimulation(w, sim)
				}
			}
		}
		for _, t := range st.After {
			fmt.Fprintf(w, "  after: %s\n", describeTask(t))
		}
	}
}

// printSimulation writes one pool's replay under its cluster.
func printSimulation(w io.Writer, sim drainsim.Replay) {
	if sim.Result == nil {
		fmt.Fprintf(w, "      simulation of pool %s: not done: %s\n", sim.Pool, sim.Error)
		return
	}
	r := sim.Result
	fmt.Fprintf(w, "      simulation of pool %s: %d of %d node(s) replaced, maxSurge %d: %d batch(es), %d eviction(s), %d dry-run eviction(s)\n",
		sim.Pool, r.Replaced, r.Nodes, r.MaxSurge, len(r.Batches), r.Evictions, sim.DryRuns)
	for _, b := range r.Blockers {
		fmt.Fprintf(w, "        BLOCKED batch %d, node %s, pod %s: %s\n          fix: %s\n", b.Batch, b.Node, b.Pod, b.Reason, b.Fix)
		if b.Confirmed != "" {
			fmt.Fprintf(w, "          the API server refuses it now: %s\n", b.Confirmed)
		}
	}
	for _, f := range r.Warnings {
		fmt.Fprintf(w, "        warning batch %d, node %s, pod %s: %s\n          fix: %s\n", f.Batch, f.Node, f.Pod, f.Reason, f.Fix)
	}
	if sim.Error != "" {
		fmt.Fprintf(w, "        incomplete: %s\n", sim.Error)
	}
	if d := r.Duration; d != nil {
		ends := "then done"
		if len(r.Blockers) > 0 {
			ends = "then done, the blocked node(s) left cordoned (undrainableNodeBehavior Cordon)"
		}
		if d.Fails {
			ends = fmt.Sprintf("then the upgrade fails in batch %d, after its drain timeout", r.StopsAt)
		}
		fmt.Fprintf(w, "        duration: about %s, at worst %s; %s\n", drainsim.Short(d.Expected), drainsim.Short(d.AtWorst), ends)
		fmt.Fprintf(w, "          node ready %s, drain %s: %s\n", figure(d.Timings.NodeReady), figure(d.Timings.Drain), d.Timings.Drain.Source)
		if d.Timings.NodeReady.Source != d.Timings.Drain.Source {
			fmt.Fprintf(w, "          node ready: %s\n", d.Timings.NodeReady.Source)
		}
	}
	if sim.Window != nil {
		fmt.Fprintf(w, "        window: %s\n", sim.Window.Message)
	}
}

func figure(f drainsim.Figure) string {
	return fmt.Sprintf("p50 %s p95 %s", drainsim.Short(f.P50), drainsim.Short(f.P95))
}

func describeTask(t v1alpha1.StageTask) string {
	switch t.Type {
	case v1alpha1.TaskTimedWait:
		return "wait " + t.WaitTime.Duration.String()
	case v1alpha1.TaskGate:
		return "gate " + t.Gate.Name + " (" + t.Gate.Type + ")"
	case v1alpha1.TaskApproval:
		return strings.TrimSpace("approval " + t.Name)
	}
	return t.Type
}
