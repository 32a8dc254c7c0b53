package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/methods/canary"
	"upshift.dev/upshift/internal/plan"
	"upshift.dev/upshift/internal/store"
)

type canaryOptions struct{ moveOptions }

func newCanaryCommand(s Streams) *cobra.Command {
	o := &canaryOptions{moveOptions{runOptions: runOptions{streams: s}}}
	cmd := &cobra.Command{
		Use:   "canary CLUSTER --to VERSION -f CANARY_FILE [--fleet FLEET_FILE]",
		Short: "Move one cluster's users to a new cluster at VERSION step by step, with analysis (canary)",
		Long: `Canary upgrade of one cluster: green is built at VERSION, filled and validated
as in a blue-green move (T0–T2), then takes a growing share of the cluster
name's traffic (T3-Canary 1…n). Each step holds its weight for its pause while
the analysis runs: Metrics gates compare green with blue from the gateway's own
counters (error ratio, p95 latency), other gates (HTTP, Command, Approval…)
must pass. Any failed analysis sends all traffic back to blue within seconds,
lifts the freeze, keeps green for inspection, records the measured values and
exits 11. After the last step (100%), blue is retired as in T4.

CANARY_FILE holds the blueGreen settings (traffic, sync, freeze, validation,
blueSoak, keepBlue) with steps and analysis beside them:

  traffic: {provider: gateway, ...}
  steps:
  - {weight: 10, pause: 1m}
  - {weight: 50, pause: 2m, approval: true}
  - {weight: 100}
  analysis:
  - {name: errors-and-latency, type: Metrics, interval: 5s,
     metrics: {maxErrorRatePercent: 1, maxP95IncreasePercent: 50}}

The traffic provider must split by weight (gateway, trafficmanager); DNS is
refused. Kill it and ` + "`upshift resume RUN`" + ` holds the same step again (never a
later one); ` + "`upshift rollback RUN`" + ` sends all traffic back to blue.

Exit codes: 0 completed; 1 failed; 2 bad input (nothing changed); 10 stopped;
11 rolled back (traffic is on blue).`,
		Example: `  upshift canary shop --to 1.37 -f canary.yaml
  upshift canary shop --to 1.37 -f canary.yaml --fleet fleet.yaml --name shop-137`,
		Args: exactArgs(1, "CLUSTER"),
		RunE: runE(o),
	}
	o.addFlags(cmd, "canary", "blueGreen settings with the canary's steps and analysis")
	return cmd
}

func (o *canaryOptions) Validate() error {
	var c plan.CanaryFile
	if err := o.validate("canary", &c); err != nil {
		return err
	}
	o.run = plan.BlueGreenRun(o.name, o.to, &c.BlueGreenSpec)
	o.run.Spec.Method = v1alpha1.MethodCanary
	o.run.Spec.Canary = &v1alpha1.CanarySpec{Steps: c.Steps, Analysis: c.Analysis}
	o.run.Spec.Strategy.Stages[0].Name = "canary"
	return nil
}

// writeCanary renders a cluster's canary: where its traffic is, and each
// step's analysis (the last measurement of each gate, and every failed
// one).
func writeCanary(w io.Writer, c *v1alpha1.CanaryStatus) {
	step := ""
	if c.Step > 0 {
		step = fmt.Sprintf(" (step %d)", c.Step)
	}
	fmt.Fprintf(w, "      canary: green at %d%%%s\n", c.Weight, step)
	for _, m := range c.Analysis {
		fmt.Fprintf(w, "        step %d %s %s at %s: %s\n", m.Step, m.Gate, m.Phase, m.At.UTC().Format("15:04:05"), m.Message)
	}
}

type promoteOptions struct {
	namedRunOptions
	cluster, by string
}

func newPromoteCommand(s Streams) *cobra.Command {
	o := &promoteOptions{namedRunOptions: namedRunOptions{runOptions: runOptions{streams: s}}}
	cmd := &cobra.Command{
		Use:   "promote RUN [--cluster CLUSTER]",
		Short: "Skip a canary's remaining steps: all traffic to green, then blue is retired",
		Long: `Promote a canary run: the step under way ends (within a second when a process
drives the run, or when it resumes), all of the cluster name's traffic goes to
green, and the steps left are skipped; T4 then retires blue as usual. A step
held for its approval gets that approval with the promotion (both audited).
Without --cluster, every cluster of the run still in its canary is promoted.
The promotion is recorded, with who gave it, in the run's approvals and audit
log.

Exit codes: 0 recorded; 2 bad input (nothing recorded).`,
		Example: `  upshift promote canary-shop-20261202-170000
  upshift promote canary-shop-20261202-170000 --cluster shop --by alice`,
		Args:              exactArgs(1, "RUN"),
		ValidArgsFunction: o.completeRuns,
		RunE:              runE(o),
	}
	o.addHome(cmd)
	cmd.Flags().StringVar(&o.cluster, "cluster", "", "the cluster to promote (default: every cluster still in its canary)")
	_ = cmd.RegisterFlagCompletionFunc("cluster", o.completeOfRun(false))
	cmd.Flags().StringVar(&o.by, "by", "", "who promotes (default: the current user)")
	return cmd
}

func (o *promoteOptions) Run(ctx context.Context) error {
	run, err := o.readRequested(ctx)
	if err != nil {
		return err
	}
	clusters, err := canary.CheckPromote(run, o.cluster)
	if err != nil {
		return usageError{Err: err}
	}
	osUser := currentUser()
	by := o.by
	if by == "" {
		by = osUser
	}
	for _, c := range clusters {
		if err := o.store().Approve(o.name, store.Approval{Key: canary.PromoteKey(c), By: by, OSUser: osUser, Time: time.Now().UTC()}); err != nil {
			return usageError{Err: err}
		}
		if err := o.store().Audit(o.name, store.Event{Time: time.Now().UTC(), Type: store.EventPromoted, Message: fmt.Sprintf("%s promoted by %s (OS user %s)", c, by, osUser)}); err != nil {
			return fmt.Errorf("the promotion is recorded, but not its audit line: %w", err)
		}
		done := "all traffic goes to green"
		if gate, step, held := canary.HeldForApproval(run, c); held {
			// The step waits for its approval, not for a promotion: the
			// promotion gives it, and the audit says so.
			if err := o.store().Approve(o.name, store.Approval{Key: store.ClusterGateKey(c, gate), By: by, OSUser: osUser, Time: time.Now().UTC()}); err != nil {
				return fmt.Errorf("the promotion is recorded, but not the approval of step %d it waits for (upshift approve %s --cluster %s --gate %s): %w", step, o.name, c, gate, err)
			}
			if err := o.store().Audit(o.name, store.Event{Time: time.Now().UTC(), Type: store.EventApproved, Message: fmt.Sprintf("%s gate %s approved by %s (OS user %s) with its promotion", c, gate, by, osUser)}); err != nil {
				return fmt.Errorf("the promotion and approval are recorded, but not the approval's audit line: %w", err)
			}
			done = fmt.Sprintf("step %d's approval (%s) given with it; all traffic goes to green", step, gate)
		}
		o.printer.Success("cluster %s of run %s promoted by %s: %s", c, o.name, by, done)
	}
	return nil
}
