package cli

import (
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"

	"upshift.dev/upshift/internal/printer"
)

// logOptions are the log flags of the long-running servers (hub run,
// gateway): text for people, or JSON lines for a log pipeline; a level
// below which records are dropped.
type logOptions struct {
	format, level string
	lvl           slog.Level
}

func (l *logOptions) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&l.format, "log-format", "text", "text, or json: one JSON object per line (progress included), for a log pipeline")
	cmd.Flags().StringVar(&l.level, "log-level", "info", "debug, info, warn or error")
}

func (l *logOptions) validate() error {
	switch l.format {
	case "text", "json":
	default:
		return usagef("--log-format %q: give text or json", l.format)
	}
	if err := l.lvl.UnmarshalText([]byte(strings.ToUpper(l.level))); err != nil {
		return usagef("--log-level %q: give debug, info, warn or error", l.level)
	}
	return nil
}

// logger is the server's log on w.
func (l *logOptions) logger(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: l.lvl}
	if l.format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// printer prints the server's progress lines: as they are for text, as
// records of the log for json (so that every line of the stream parses).
func (l *logOptions) printer(w io.Writer, log *slog.Logger) *printer.Printer {
	if l.format == "json" {
		return printer.Logged(log)
	}
	return printer.New(w)
}
