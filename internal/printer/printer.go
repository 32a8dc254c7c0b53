package printer

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"sync"
)

// Printer writes human progress lines.
type Printer struct {
	mu    sync.Mutex
	w     io.Writer
	color bool
}

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
	p.mu.Lock()
	defer p.mu.Unlock()
	msg := fmt.Sprintf(format, args...)
	if p.color {
		fmt.Fprintf(p.w, "\x1b[%sm%s\x1b[0m %s\n", color, symbol, msg)
		return
	}
	fmt.Fprintf(p.w, "%s %s\n", symbol, msg)
}

// Action says what is being done.
func (p *Printer) Action(format string, args ...any) { p.line("►", "36", format, args...) }

// Waiting says what is being waited for.
func (p *Printer) Waiting(format string, args ...any) { p.line("◎", "33", format, args...) }

// Success says what went well.
func (p *Printer) Success(format string, args ...any) { p.line("✔", "32", format, args...) }

// Failure says what went wrong.
func (p *Printer) Failure(format string, args ...any) { p.line("✗", "31", format, args...) }

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
