package doctest

import (
	"fmt"
	"regexp"
	"strings"
)

// Block is a fenced block of a page that the examples use: a file to
// write, or a session to run.
type Block struct {
	Page string
	Line int // of the opening fence, 1-based
	// File is the path a `<!-- file: PATH -->` block is written to.
	File string
	// NotRun is why a session is left out (`<!-- not run: WHY -->`).
	NotRun string
	// Text is a file block's contents, dedented.
	Text     string
	Commands []Command
}

// Command is one `$ ` line of a session (continued lines joined) and the
// output the page shows after it.
type Command struct {
	Line int
	Run  string
	Want []string
}

var (
	fileMarker   = regexp.MustCompile(`^<!-- file: (\S+) -->$`)
	notRunMarker = regexp.MustCompile(`^<!-- not run: (.+) -->$`)
	portsMarker  = regexp.MustCompile(`^<!-- ports: ([0-9 ]+) -->$`)
)

// Ports lists the ports a page's `<!-- ports: 8080 9090 -->` marker names:
// fixed ports its examples listen on, which a test replaces with free
// ones (as `:PORT` in files and commands), so that it runs beside others.
func Ports(data []byte) []string {
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		if m := portsMarker.FindStringSubmatch(strings.TrimSpace(l)); m != nil {
			out = append(out, strings.Fields(m[1])...)
		}
	}
	return out
}

// Fence is a fenced block of a page: its language (yaml, console, or
// none), the line above its opening fence (where markers go), that
// fence's line (1-based), and its lines, dedented as far as the fence is
// (a block inside a list item is indented).
type Fence struct {
	Lang, Above string
	Line        int
	Body        []string
}

// Text is the block's contents as a file holds them.
func (f Fence) Text() string { return strings.Join(f.Body, "\n") + "\n" }

// Fences returns the fenced blocks of a page, in page order.
func Fences(page string, data []byte) ([]Fence, error) {
	lines := strings.Split(string(data), "\n")
	var out []Fence
	for i := 0; i < len(lines); i++ {
		open := strings.TrimSpace(lines[i])
		if !strings.HasPrefix(open, "```") {
			continue
		}
		indent := strings.Index(lines[i], "```")
		f := Fence{Lang: strings.TrimPrefix(open, "```"), Line: i + 1}
		if i > 0 {
			f.Above = strings.TrimSpace(lines[i-1])
		}
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			l := lines[i]
			if len(l) >= indent && strings.TrimSpace(l[:indent]) == "" {
				l = l[indent:]
			}
			f.Body = append(f.Body, l)
		}
		if i == len(lines) {
			return nil, fmt.Errorf("%s:%d: the block is never closed", page, f.Line)
		}
		out = append(out, f)
	}
	return out, nil
}

// Parse returns the file blocks and sessions of a page, in page order.
// Blocks that are neither (yaml read by no example, output without a
// prompt) are left out.
func Parse(page string, data []byte) ([]Block, error) {
	fences, err := Fences(page, data)
	if err != nil {
		return nil, err
	}
	var out []Block
	for _, f := range fences {
		b := Block{Page: page, Line: f.Line}
		if m := fileMarker.FindStringSubmatch(f.Above); m != nil {
			b.File, b.Text = m[1], f.Text()
			out = append(out, b)
			continue
		}
		if m := notRunMarker.FindStringSubmatch(f.Above); m != nil {
			b.NotRun = m[1]
		}
		b.Commands = commands(b.Line, f.Body)
		if len(b.Commands) > 0 {
			out = append(out, b)
		} else if b.NotRun != "" {
			return nil, fmt.Errorf("%s:%d: `not run` marks a block with no `$ ` command", page, b.Line)
		}
	}
	return out, nil
}

// IsFile says whether a fence is a file the sessions use (`<!-- file: PATH -->`).
func (f Fence) IsFile() bool { return fileMarker.MatchString(f.Above) }

// commands splits a session's lines into its commands and their output.
// A session is a block whose first line is a command.
func commands(fence int, body []string) []Command {
	if len(body) == 0 || !strings.HasPrefix(body[0], "$ ") {
		return nil
	}
	var out []Command
	for j := 0; j < len(body); j++ {
		l := body[j]
		if strings.HasPrefix(l, "$ ") {
			c := Command{Line: fence + 1 + j, Run: strings.TrimPrefix(l, "$ ")}
			for strings.HasSuffix(c.Run, `\`) && j+1 < len(body) {
				j++
				c.Run = strings.TrimSuffix(c.Run, `\`) + " " + strings.TrimSpace(body[j])
			}
			out = append(out, c)
			continue
		}
		last := &out[len(out)-1]
		last.Want = append(last.Want, l)
	}
	for k := range out {
		out[k].Want = trimBlank(out[k].Want)
	}
	return out
}

func trimBlank(lines []string) []string {
	for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// ReadsExit says whether a command reads the exit code of the one before
// it, which may then fail.
func ReadsExit(run string) bool { return strings.Contains(run, "$?") }

// loose lists what may differ from run to run, each with the pattern that
// matches any value of it. Order matters: longer shapes first.
var loose = []struct{ shape, any string }{
	{`\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z`, `\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z`},
	{`\d{4}-\d{2}-\d{2} \d{2}:\d{2}`, `\d{4}-\d{2}-\d{2} \d{2}:\d{2}`},
	{`(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d{1,2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{2}:\d{2}`, `\w{3} \d{1,2} \w{3} \d{2}:\d{2}`},
	{`\b\d{8}-\d{6}\b`, `\d{8}-\d{6}`},
	{`\b\d{2}:\d{2}:\d{2}\b`, `\d{2}:\d{2}:\d{2}`},
	{`127\.0\.0\.1:\d+`, `127\.0\.0\.1:\d+`},
	{`\b\d+ req/s`, `\d+ req/s`},
	{`\b\d+(?:\.\d+)?(?:ns|µs|ms|h|m|s)(?:\d+(?:\.\d+)?(?:ms|h|m|s))*\b`, `\d+(?:\.\d+)?(?:ns|µs|ms|h|m|s)(?:\d+(?:\.\d+)?(?:ms|h|m|s))*`},
}

var looseRE = func() *regexp.Regexp {
	parts := make([]string, len(loose))
	for i, l := range loose {
		parts[i] = "(" + l.shape + ")"
	}
	return regexp.MustCompile(strings.Join(parts, "|"))
}()

// Pattern is the regular expression a line the page shows stands for:
// the line as written, runs of spaces as one, and each value that differs
// from run to run (see the package's doc) as any value of its kind.
func Pattern(want string) *regexp.Regexp {
	want = squash(want)
	var b strings.Builder
	b.WriteString("^")
	last := 0
	for _, m := range looseRE.FindAllStringSubmatchIndex(want, -1) {
		b.WriteString(regexp.QuoteMeta(want[last:m[0]]))
		for k := range loose {
			if m[2+2*k] >= 0 {
				b.WriteString(loose[k].any)
				break
			}
		}
		last = m[1]
	}
	b.WriteString(regexp.QuoteMeta(want[last:]))
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

var spaces = regexp.MustCompile(`\s+`)

func squash(s string) string { return spaces.ReplaceAllString(strings.TrimSpace(s), " ") }

// isGap says whether a line the page shows stands for any lines.
func isGap(l string) bool {
	l = strings.TrimSpace(l)
	return l == "..." || l == "…"
}

// Match compares what a command printed with what the page shows after
// it. It returns nil when they agree, else the first line the page shows
// that was not printed, and what was.
func Match(want, got []string) error {
	got = trimBlank(got)
	if matchFrom(want, got) {
		return nil
	}
	// Name the first line that no alignment reaches.
	for k := range want {
		if !isGap(want[k]) && !prefixMatches(want[:k+1], got) {
			return fmt.Errorf("the page shows %q, not printed where it stands; it printed:\n%s", want[k], strings.Join(got, "\n"))
		}
	}
	return fmt.Errorf("the page shows %d line(s) and ends there; it printed more:\n%s", len(want), strings.Join(got, "\n"))
}

// matchFrom matches want against all of got, gaps matching any lines.
func matchFrom(want, got []string) bool {
	if len(want) == 0 {
		return len(got) == 0
	}
	if isGap(want[0]) {
		for k := 0; k <= len(got); k++ {
			if matchFrom(want[1:], got[k:]) {
				return true
			}
		}
		return false
	}
	return len(got) > 0 && Pattern(want[0]).MatchString(squash(got[0])) && matchFrom(want[1:], got[1:])
}

// prefixMatches says whether want matches a prefix of got.
func prefixMatches(want, got []string) bool {
	return matchFrom(append(append([]string{}, want...), "..."), got)
}
