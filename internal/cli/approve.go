package cli

import (
	"context"
	"errors"
	"fmt"
	"os/user"
	"time"

	"github.com/spf13/cobra"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/engine"
	"upshift.dev/upshift/internal/store"
)

type approveOptions struct {
	namedRunOptions
	stage, task, cluster, gate, by string
	key                            string
}

func newApproveCommand(s Streams) *cobra.Command {
	o := &approveOptions{namedRunOptions: namedRunOptions{runOptions: runOptions{streams: s}}}
	cmd := &cobra.Command{
		Use:               "approve RUN --stage STAGE [--task TASK] | --cluster CLUSTER --gate GATE",
		Short:             "Approve a stage's approval task, or a cluster's approval gate",
		Args:              exactArgs(1, "RUN"),
		ValidArgsFunction: o.completeRuns,
		RunE:              runE(o),
	}
	o.addHome(cmd)
	o.addHub(cmd)
	cmd.Flags().StringVar(&o.stage, "stage", "", "stage whose approval tasks to approve")
	_ = cmd.RegisterFlagCompletionFunc("stage", o.completeOfRun(true))
	cmd.Flags().StringVar(&o.task, "task", "", "one approval task of the stage (default: all of them)")
	cmd.Flags().StringVar(&o.cluster, "cluster", "", "cluster whose approval gate to approve")
	_ = cmd.RegisterFlagCompletionFunc("cluster", o.completeOfRun(false))
	cmd.Flags().StringVar(&o.gate, "gate", "", "the approval gate's name")
	cmd.Flags().StringVar(&o.by, "by", "", "who approves (default: the current user)")
	return cmd
}

func (o *approveOptions) Validate() error {
	if err := o.namedRunOptions.Validate(); err != nil {
		return err
	}
	switch {
	case o.stage != "" && o.cluster == "":
		o.key = stageKey(o.stage, o.task)
	case o.cluster != "" && o.stage == "" && o.gate != "":
		o.key = store.ClusterGateKey(o.cluster, o.gate)
	default:
		return usagef("name a --stage (and optionally --task), or a --cluster and its --gate")
	}
	return nil
}

func (o *approveOptions) Run(ctx context.Context) error {
	run, err := o.readRequested(ctx)
	if err != nil {
		return err
	}
	if err := engine.CheckApproval(run, o.stage, o.task, o.cluster, o.gate); err != nil {
		return usageError{Err: err}
	}
	osUser := currentUser()
	by := o.by
	if by == "" {
		by = osUser
	}
	if err := o.store().Approve(o.name, store.Approval{Key: o.key, By: by, OSUser: osUser, Time: time.Now().UTC()}); err != nil {
		return usageError{Err: err}
	}
	if err := o.audit(o.name, store.Event{Time: time.Now().UTC(), Type: store.EventApproved, Message: fmt.Sprintf("%s approved by %s (OS user %s)", o.key, by, osUser)}); err != nil {
		return fmt.Errorf("the approval is recorded, but not its audit line: %w", err)
	}
	o.printer.Success("approved %s of run %s as %s", o.key, o.name, by)
	return nil
}

// readRequested reads the run an approval, skip or promotion names, to
// check the request against; a status recovered from the previous write
// is good enough for that. A run that cannot be read is bad input.
func (o *namedRunOptions) readRequested(ctx context.Context) (*v1alpha1.UpdateRun, error) {
	if err := o.openHub(ctx); err != nil {
		return nil, err
	}
	run, err := o.store().Get(o.name)
	var corrupt *store.CorruptError
	if errors.As(err, &corrupt) && corrupt.Recovered {
		return run, nil
	}
	if err != nil {
		return nil, usageError{Err: err}
	}
	return run, nil
}

// stageKey is the key of a whole stage, or of one of its tasks.
func stageKey(stage, task string) string {
	if task == "" {
		return store.StageKey(stage)
	}
	return store.StageTaskKey(stage, task)
}

func currentUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "unknown"
}

type skipOptions struct {
	namedRunOptions
	stage, task, cluster string
	key                  string
}

func newSkipCommand(s Streams) *cobra.Command {
	o := &skipOptions{namedRunOptions: namedRunOptions{runOptions: runOptions{streams: s}}}
	cmd := &cobra.Command{
		Use:               "skip RUN --cluster CLUSTER | --stage STAGE [--task TASK]",
		Short:             "Skip a cluster, a whole stage, or a stage's wait or approval",
		Args:              exactArgs(1, "RUN"),
		ValidArgsFunction: o.completeRuns,
		RunE:              runE(o),
	}
	o.addHome(cmd)
	o.addHub(cmd)
	cmd.Flags().StringVar(&o.stage, "stage", "", "stage to skip")
	_ = cmd.RegisterFlagCompletionFunc("stage", o.completeOfRun(true))
	cmd.Flags().StringVar(&o.task, "task", "", "one task of the stage to skip (a wait or an approval)")
	cmd.Flags().StringVar(&o.cluster, "cluster", "", "cluster to skip")
	_ = cmd.RegisterFlagCompletionFunc("cluster", o.completeOfRun(false))
	return cmd
}

func (o *skipOptions) Validate() error {
	if err := o.namedRunOptions.Validate(); err != nil {
		return err
	}
	switch {
	case o.cluster != "" && o.stage == "" && o.task == "":
		o.key = store.ClusterKey(o.cluster)
	case o.stage != "" && o.cluster == "":
		o.key = stageKey(o.stage, o.task)
	default:
		return usagef("name a --cluster, or a --stage (and optionally its --task)")
	}
	return nil
}

func (o *skipOptions) Run(ctx context.Context) error {
	run, err := o.readRequested(ctx)
	if err != nil {
		return err
	}
	if err := engine.CheckSkip(run, o.stage, o.task, o.cluster); err != nil {
		return usageError{Err: err}
	}
	osUser := currentUser()
	if err := o.store().Skip(o.name, store.Approval{Key: o.key, By: osUser, OSUser: osUser, Time: time.Now().UTC()}); err != nil {
		return usageError{Err: err}
	}
	if err := o.audit(o.name, store.Event{Time: time.Now().UTC(), Type: store.EventSkipRequested, Message: o.key + " by " + osUser}); err != nil {
		return fmt.Errorf("the skip is recorded, but not its audit line: %w", err)
	}
	o.printer.Success("%s of run %s will be skipped", o.key, o.name)
	return nil
}
