package cli

import (
	"context"

	"github.com/spf13/cobra"
)

// command is how every upshift command runs, in three steps:
//   - Complete fills the options from the arguments and the flags;
//   - Validate refuses bad input (exit 2) before anything is touched: it
//     reads files but changes nothing and calls no cluster;
//   - Run does the work, mostly by calling one function of a capability
//     package, and reports through the printer.
type command interface {
	Complete(cmd *cobra.Command, args []string) error
	Validate() error
	Run(ctx context.Context) error
}

// runE makes a command's options its cobra RunE.
func runE(o command) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if err := o.Complete(cmd, args); err != nil {
			return err
		}
		if err := o.Validate(); err != nil {
			return err
		}
		return o.Run(cmd.Context())
	}
}
