package cmdkit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"

	"github.com/spf13/cobra"

	"upshift.dev/upshift/internal/exitcode"
	"upshift.dev/upshift/internal/names"
	"upshift.dev/upshift/internal/printer"
)

// Streams are a command's standard streams.
type Streams struct {
	In       io.Reader
	Out, Err io.Writer
}

// Command is how every upshift command runs, in three steps:
//   - Complete fills the options from the arguments and the flags;
//   - Validate refuses bad input (exit 2) before anything is touched: it
//     reads files but changes nothing and calls no cluster;
//   - Run does the work, mostly by calling one function of a capability
//     package, and reports through the printer.
type Command interface {
	Complete(cmd *cobra.Command, args []string) error
	Validate() error
	Run(ctx context.Context) error
}

// RunE makes a command's options its cobra RunE.
func RunE(o Command) func(*cobra.Command, []string) error {
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

// UsageError marks bad input, which exits with exitcode.Usage.
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }

// Usagef is bad input, formatted.
func Usagef(format string, args ...any) error { return UsageError{fmt.Errorf(format, args...)} }

// ExitCode ends a command with a code that is not a failure of upshift
// itself, such as a scan's findings; the command already said why.
type ExitCode int

func (e ExitCode) Error() string { return fmt.Sprintf("exit code %d", int(e)) }

// ExactArgs is cobra.ExactArgs with a message that says what to give.
func ExactArgs(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == n {
			return nil
		}
		if n == 0 {
			return Usagef("%s takes no arguments, got %d", cmd.CommandPath(), len(args))
		}
		plural := "s"
		if n == 1 {
			plural = ""
		}
		return Usagef("%s takes %s (%d argument%s), got %d: see --help", cmd.CommandPath(), names, n, plural, len(args))
	}
}

// RefuseUnknownCommands makes a command group answer an unknown command
// as bad input like any other (exit 2), and print its help when called
// with nothing.
func RefuseUnknownCommands(group *cobra.Command) {
	group.Args = cobra.ArbitraryArgs
	group.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) > 0 {
			return Usagef("unknown command %q for %q: `%s --help` lists the commands", args[0], cmd.CommandPath(), cmd.CommandPath())
		}
		return cmd.Help()
	}
}

// Root makes cmd a binary's root command: its errors are printed once by
// Execute, not by cobra, a bad flag is bad input, and an unknown command
// is refused.
func Root(cmd *cobra.Command, s Streams) {
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	cmd.SetIn(s.In)
	cmd.SetOut(s.Out)
	cmd.SetErr(s.Err)
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return UsageError{Err: err} })
}

// ValidateOutput refuses an -o format the command does not write.
func ValidateOutput(format string, allowed ...string) error {
	for _, a := range allowed {
		if format == a {
			return nil
		}
	}
	return Usagef("unknown output format %q: use one of %v", format, allowed)
}

// Execute runs a command tree with args and returns the process exit
// code: 0, a command's own ExitCode, or the code of its error, which it
// prints as one line on the error stream (a JSON record when the command
// logs JSON: --log-format json).
func Execute(ctx context.Context, root *cobra.Command, args []string, s Streams) int {
	if err := unknownWithHelp(root, args); err != nil {
		printer.New(s.Err).Failure("%v", err)
		return exitcode.Usage
	}
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitcode.OK
	}
	var code ExitCode
	if errors.As(err, &code) {
		return int(code)
	}
	var usage UsageError
	exit := exitcode.Failed
	switch {
	case errors.As(err, &usage), names.IsInvalid(err):
		exit = exitcode.Usage
	case errors.Is(err, context.DeadlineExceeded):
		exit = exitcode.Timeout
	}
	if f := cmd.Flags().Lookup("log-format"); f != nil && f.Value.String() == "json" {
		// Every line of a JSON log parses, the last one too.
		slog.New(slog.NewJSONHandler(s.Err, nil)).Error(err.Error(), "exitCode", exit)
		return exit
	}
	printer.New(s.Err).Failure("%v", err)
	return exit
}

// unknownWithHelp refuses `upshift retry --help`: cobra answers a help
// request before it looks at the arguments, so an unknown command given
// --help would print its group's help and exit 0, and a script could not
// tell that the command does not exist.
func unknownWithHelp(root *cobra.Command, args []string) error {
	if !slices.Contains(args, "--help") && !slices.Contains(args, "-h") {
		return nil
	}
	cmd, rest, err := root.Find(args)
	if err != nil || !cmd.HasAvailableSubCommands() {
		return nil
	}
	cmd.InitDefaultHelpFlag()
	if err := cmd.ParseFlags(rest); err != nil {
		return nil // cobra says what is wrong with the flags
	}
	if extra := cmd.Flags().Args(); len(extra) > 0 {
		return Usagef("unknown command %q for %q: `%s --help` lists the commands", extra[0], cmd.CommandPath(), cmd.CommandPath())
	}
	return nil
}
