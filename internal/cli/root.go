package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"upshift.dev/upshift/internal/builtin"
	"upshift.dev/upshift/internal/cmdkit"
	"upshift.dev/upshift/internal/exitcode"
)

// Exit codes a pipeline can branch on.
const (
	ExitOK         = exitcode.OK
	ExitFailed     = exitcode.Failed
	ExitUsage      = exitcode.Usage
	ExitTimeout    = exitcode.Timeout
	ExitStopped    = exitcode.Stopped
	ExitRolledBack = exitcode.RolledBack
)

// Streams are the command's standard streams.
type Streams = cmdkit.Streams

// usageError marks bad input, which exits with ExitUsage.
type usageError = cmdkit.UsageError

// exitCode ends a command with a code of its own (a scan's findings, a
// run rolled back); the command already said why.
type exitCode = cmdkit.ExitCode

func usagef(format string, args ...any) error { return cmdkit.Usagef(format, args...) }

// NewRootCommand builds the upshift command tree.
func NewRootCommand(s Streams) *cobra.Command {
	builtin.Register() // the methods and providers upshift ships, by name
	root := &cobra.Command{
		Use:   "upshift",
		Short: "Upgrade Kubernetes clusters and fleets without downtime",
		Long: `upshift upgrades Kubernetes clusters, one or a fleet of hundreds, without
downtime its users can notice: staged update runs with gates and approvals,
blue-green and canary moves with traffic switching, node-image patching in
maintenance windows, and readiness audits. It upgrades AKS clusters, the
clusters an exec provider drives (examples/exec-provider holds providers
for EKS, GKE and kubeadm; write one for Cluster API) and its local
fleet's; any cluster can be scanned and gated through a kubeconfig. In hub
mode it runs as a controller on a hub cluster.

upshift local runs real Kubernetes control planes on this machine: the
embedded default and test bed.`,
	}
	if strings.HasPrefix(filepath.Base(os.Args[0]), "kubectl-") {
		// Installed as kubectl-upshift on PATH: a kubectl plugin, and
		// its help says `kubectl upshift`.
		root.Annotations = map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl upshift"}
	}
	cmdkit.Root(root, s)

	root.AddCommand(newLocalCommand(s), newDemoCommand(s), newScanCommand(s),
		newRunCommand(s), newPatchCommand(s), newScheduleCommand(s), newReportCommand(s), newHubCommand(s), newDashboardCommand(s), newPlanCommand(s), newStatusCommand(s), newApproveCommand(s),
		newStopCommand(s), newCancelCommand(s), newDeleteCommand(s), newResumeCommand(s), newRetryCommand(s), newSkipCommand(s), newHistoryCommand(s), newFleetCommand(s),
		newGatewayCommand(s), newTrafficCommand(s), newBlueGreenCommand(s), newCanaryCommand(s), newPromoteCommand(s), newRollbackCommand(s),
		newVersionCommand(s))
	for _, group := range append([]*cobra.Command{root}, root.Commands()...) {
		if group.HasSubCommands() {
			refuseUnknownCommands(group)
		}
	}
	return root
}

// refuseUnknownCommands makes a command group answer an unknown command
// as bad input like any other (exit 2), and print its help when called
// with nothing.
var refuseUnknownCommands = cmdkit.RefuseUnknownCommands

// Main runs upshift with args and returns the process exit code.
func Main(ctx context.Context, args []string, s Streams) int {
	if filepath.Base(os.Args[0]) == kubectlCompletion {
		// kubectl completes `kubectl upshift …` by running this name on
		// PATH with the words so far.
		args = append([]string{cobra.ShellCompRequestCmd}, args...)
	}
	return cmdkit.Execute(ctx, NewRootCommand(s), args, s)
}

// kubectlCompletion is the name kubectl runs to complete a plugin's
// arguments: link or copy upshift as it, beside kubectl-upshift.
const kubectlCompletion = "kubectl_complete-upshift"

// selfCommand is how daemons re-run this program.
func selfCommand() ([]string, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding the upshift executable: %w", err)
	}
	return []string{exe}, nil
}
