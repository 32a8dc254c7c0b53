package cli

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// documentedCommands lists the upshift commands of the README and the
// docs: the `upshift …` lines of their code blocks (with or without a
// prompt, continued lines joined) and their inline `upshift …` spans,
// except the syntax summaries that hold […], | or ….
func documentedCommands(t *testing.T) map[string][]string {
	t.Helper()
	root, pages := docPages()
	inline := regexp.MustCompile("`(upshift [^`]+)`")
	out := map[string][]string{}
	for _, p := range pages {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		page := strings.TrimPrefix(p, root+"/")
		lines := strings.Split(string(data), "\n")
		inBlock := false
		for i := 0; i < len(lines); i++ {
			l := strings.TrimSpace(lines[i])
			if strings.HasPrefix(l, "```") {
				inBlock = !inBlock
				continue
			}
			if inBlock {
				cmd := strings.TrimPrefix(l, "$ ")
				if !strings.HasPrefix(cmd, "upshift ") || strings.ContainsAny(strings.SplitN(cmd, "#", 2)[0], "[…") {
					continue
				}
				for strings.HasSuffix(cmd, `\`) && i+1 < len(lines) {
					i++
					cmd = strings.TrimSuffix(cmd, `\`) + " " + strings.TrimSpace(lines[i])
				}
				out[cmd] = append(out[cmd], page)
				continue
			}
			for _, m := range inline.FindAllStringSubmatch(lines[i], -1) {
				if !strings.ContainsAny(m[1], "[|…") {
					out[m[1]] = append(out[m[1]], page)
				}
			}
		}
	}
	return out
}

// words splits a command line as a shell would, for what the docs write:
// quotes, a comment, a pipe or a redirection end it.
func words(line string) []string {
	var out []string
	var cur strings.Builder
	quote, in := rune(0), false
	for _, r := range line {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '"' || r == '\'':
			quote, in = r, true
		case r == ' ' || r == '\t':
			if in {
				out, in = append(out, cur.String()), false
				cur.Reset()
			}
		case r == '#' && !in:
			return out
		case r == '|' || r == '>' || r == '&' || r == ';':
			if in {
				out = append(out, cur.String())
			}
			return out
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if in {
		out = append(out, cur.String())
	}
	return out
}

// TestDocumentedCommands: every upshift command the README and the docs
// show names a command that exists, with flags it takes (none of them
// deprecated) and as many arguments as it accepts. A command renamed or a
// flag removed fails make test, not a reader.
func TestDocumentedCommands(t *testing.T) {
	cmds := documentedCommands(t)
	if len(cmds) < 50 {
		t.Fatalf("%d upshift commands found in the README and docs: the test reads the wrong files", len(cmds))
	}
	for line, pages := range cmds {
		args := words(line)[1:]
		root := NewRootCommand(Streams{})
		cmd, rest, err := root.Find(args)
		if err != nil || cmd == root && len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
			t.Errorf("%s: `%s`: no such command", pages[0], line)
			continue
		}
		cmd.InitDefaultHelpFlag()
		if err := cmd.ParseFlags(rest); err != nil {
			t.Errorf("%s: `%s`: %v", pages[0], line, err)
			continue
		}
		cmd.Flags().Visit(func(f *pflag.Flag) {
			if f.Deprecated != "" {
				t.Errorf("%s: `%s`: --%s is deprecated: %s", pages[0], line, f.Name, f.Deprecated)
			}
		})
		if len(cmd.Flags().Args()) == 0 && cmd.Flags().NFlag() == 0 || cmd == root {
			continue // a command named in prose ("upshift canary")
		}
		if err := cmd.ValidateArgs(cmd.Flags().Args()); err != nil {
			t.Errorf("%s: `%s`: %v", pages[0], line, err)
		}
	}
}
