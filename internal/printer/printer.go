package printer

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
)

// Printer writes human progress lines, or, made by Logged, log records.
type Printer struct {
	mu    sync.Mutex
	w     io.Writer
	color bool
	log   *slog.Logger
}

// Logged returns a printer whose lines are records of l (a server's log
// in JSON): failures at level Error, the rest at Info, each with its kind
// (action, waiting, success, failure).
func Logged(l *slog.Logger) *Printer { return &Printer{log: l} }

// New returns a printer on w; colour is used when w is a terminal.
func New(w io.Writer) *Printer {
	p := &Printer{w: w}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 && os.Getenv("NO_COLOR") == "" {
			p.color = true
		}
	}
	return p
}

func (p *Printer) line(symbol, color, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if p.log != nil {
		level := slog.LevelInfo
		if symbol == symFailure {
			level = slog.LevelError
		}
		p.log.Log(context.Background(), level, msg, "kind", kinds[symbol])
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.color {
		fmt.Fprintf(p.w, "\x1b[%sm%s\x1b[0m %s\n", color, symbol, msg)
		return
	}
	fmt.Fprintf(p.w, "%s %s\n", symbol, msg)
}

const (
	symAction  = "►"
	symWaiting = "◎"
	symSuccess = "✔"
	symFailure = "✗"
)

var kinds = map[string]string{symAction: "action", symWaiting: "waiting", symSuccess: "success", symFailure: "failure"}

// Action says what is being done.
func (p *Printer) Action(format string, args ...any) { p.line(symAction, "36", format, args...) }

// Waiting says what is being waited for.
func (p *Printer) Waiting(format string, args ...any) { p.line(symWaiting, "33", format, args...) }

// Success says what went well.
func (p *Printer) Success(format string, args ...any) { p.line(symSuccess, "32", format, args...) }

// Failure says what went wrong.
func (p *Printer) Failure(format string, args ...any) { p.line(symFailure, "31", format, args...) }

// Actions returns a writer that prints each line written to it as an
// Action, for libraries that report progress through an io.Writer.
func (p *Printer) Actions() io.Writer { return &lineWriter{p: p} }

type lineWriter struct {
	p   *Printer
	buf []byte
}

func (l *lineWriter) Write(b []byte) (int, error) {
	l.buf = append(l.buf, b...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		l.p.Action("%s", l.buf[:i])
		l.buf = l.buf[i+1:]
	}
}
