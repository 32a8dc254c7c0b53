package doctest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"upshift.dev/upshift/internal/toolchain"
)

// root is the repository's root, relative to this package.
var root = filepath.Join("..", "..")

// pages are the README and the pages under docs/ (the generated CLI
// reference left out), relative to the root.
func pages(t *testing.T) []string {
	t.Helper()
	out := []string{"README.md"}
	for _, glob := range []string{"docs/*.md", "docs/*/*.md"} {
		found, err := filepath.Glob(filepath.Join(root, glob))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range found {
			rel, _ := filepath.Rel(root, p)
			if !strings.HasPrefix(rel, "docs/cli/") {
				out = append(out, rel)
			}
		}
	}
	return out
}

// TestConsoleExamples runs every session of the README and the docs as
// written (see the package's doc), page by page, each page in a fresh
// folder and home, against the local fleet: a changed message, a renamed
// flag or a step that no longer works fails here.
func TestConsoleExamples(t *testing.T) {
	if testing.Short() {
		t.Skip("builds upshift and brings up local clusters")
	}
	bin := buildUpshift(t)
	ran, left := 0, 0
	for _, page := range pages(t) {
		data, err := os.ReadFile(filepath.Join(root, page))
		if err != nil {
			t.Fatal(err)
		}
		blocks, err := Parse(page, data)
		if err != nil {
			t.Fatal(err)
		}
		var sessions []Block
		for _, b := range blocks {
			switch {
			case b.File != "":
			case b.NotRun != "":
				left++
				t.Logf("%s:%d not run: %s", b.Page, b.Line, b.NotRun)
			default:
				sessions = append(sessions, b)
			}
		}
		if len(sessions) == 0 {
			continue
		}
		ran += len(sessions)
		t.Run(strings.TrimSuffix(page, ".md"), func(t *testing.T) {
			runPage(t, bin, blocks, freePorts(t, Ports(data)))
		})
	}
	t.Logf("%d session(s) run as written, %d left out (each with its reason above)", ran, left)
	if ran == 0 {
		t.Fatal("no session found in the README and docs: the test reads the wrong files")
	}
}

// buildUpshift builds the CLI once for the sessions, as `make build` does,
// and kubectl (tools/kubectl), which the pages use and this machine need
// not have.
func buildUpshift(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, pkg := range map[string]string{"upshift": "./cmd/upshift", "kubectl": "./tools/kubectl"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, name), pkg)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	return dir
}

// freePorts maps each port a page names to a free one.
func freePorts(t *testing.T, ports []string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, p := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		out[p] = strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
		l.Close()
	}
	return out
}

// withPorts writes s with each named port (as `:PORT`) replaced.
func withPorts(s string, ports map[string]string) string {
	for from, to := range ports {
		s = strings.ReplaceAll(s, ":"+from, ":"+to)
	}
	return s
}

// runPage runs a page's blocks in order in one folder and home: files are
// written, sessions run. Local clusters a session left are removed.
func runPage(t *testing.T, bin string, blocks []Block, ports map[string]string) {
	work, home := t.TempDir(), t.TempDir()
	// bin/upshift, as the docs that follow a `make build` write it.
	if err := os.Symlink(bin, filepath.Join(work, "bin")); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(),
		"HOME="+home,
		"PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"UPSHIFT_CACHE="+toolchain.DefaultCacheDir(), // the built Kubernetes binaries, not the fresh home's
		"UPSHIFT_HOME=", "UPSHIFT_HUB=", "KUBECONFIG=", "NO_COLOR=1",
	)
	var groups []int // the sessions' process groups, background jobs with them
	t.Cleanup(func() {
		for _, g := range groups {
			_ = syscall.Kill(-g, syscall.SIGTERM)
		}
		down := exec.Command(filepath.Join(bin, "upshift"), "local", "down", "--all")
		down.Env = env
		_ = down.Run()
	})
	for _, b := range blocks {
		if b.File != "" {
			p := filepath.Join(work, b.File)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(withPorts(b.Text, ports)), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if b.NotRun != "" {
			continue
		}
		cmds := make([]Command, len(b.Commands))
		for k, c := range b.Commands {
			c.Run = withPorts(c.Run, ports)
			cmds[k] = c
		}
		outs, codes, err := runSession(work, env, cmds, &groups)
		if err != nil {
			t.Fatalf("%s:%d: %v", b.Page, b.Line, err)
		}
		for k, c := range b.Commands {
			got := strings.Split(strings.ReplaceAll(outs[k], home, "~"), "\n")
			want := make([]string, len(c.Want))
			for j, w := range c.Want {
				want[j] = asUser(strings.ReplaceAll(w, "/root/", "~/"))
			}
			if codes[k] != 0 && (k+1 == len(b.Commands) || !ReadsExit(b.Commands[k+1].Run)) {
				t.Errorf("%s:%d: `%s` exited %d, and the page does not show it failing:\n%s", b.Page, c.Line, c.Run, codes[k], outs[k])
				continue
			}
			if len(c.Want) == 0 {
				continue // the page shows the command only
			}
			if err := Match(want, got); err != nil {
				t.Errorf("%s:%d: `%s`: %v", b.Page, c.Line, c.Run, err)
			}
		}
	}
}

// separator starts each command's output in the session's stream, with
// the exit code of the command before it.
const separator = "\x1eupshift-doctest"

// runSession runs a session's commands in one bash, in the page's
// folder, each command's output (both streams, in order) and exit code
// kept apart. `$?` reads the command before, as in a terminal.
func runSession(work string, env []string, cmds []Command, groups *[]int) (outs []string, codes []int, err error) {
	var script strings.Builder
	script.WriteString("exec 2>&1\n__rc=0\n")
	for _, c := range cmds {
		fmt.Fprintf(&script, "printf '\\n%s %%d\\n' \"$__rc\"\n(exit $__rc)\n%s\n__rc=$?\n", separator, c.Run)
	}
	fmt.Fprintf(&script, "printf '\\n%s %%d\\n' \"$__rc\"\n", separator)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script.String())
	cmd.Dir, cmd.Env = work, env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// Its own process group, so that what it leaves in the background
	// is stopped with the page; and no wait for a job that kept the
	// output open.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	*groups = append(*groups, cmd.Process.Pid)
	if err := cmd.Wait(); err != nil {
		return nil, nil, fmt.Errorf("the session's shell: %v\n%s", err, out.String())
	}
	parts := strings.Split(out.String(), "\n"+separator+" ")
	// parts[0] is empty; parts[k] starts with the exit code of command
	// k-1, then holds command k's output.
	for k := 1; k < len(parts); k++ {
		code, rest, _ := strings.Cut(parts[k], "\n")
		n, err := strconv.Atoi(code)
		if err != nil {
			return nil, nil, fmt.Errorf("the session's output is not in order: %q", parts[k])
		}
		if k > 1 {
			codes = append(codes, n)
		}
		if k < len(parts)-1 {
			outs = append(outs, rest)
		}
	}
	if len(outs) != len(cmds) || len(codes) != len(cmds) {
		return nil, nil, fmt.Errorf("%d command(s), %d output(s) read", len(cmds), len(outs))
	}
	return outs, codes, nil
}

// asUser writes the user the pages ran as (root, in "as root" and "by
// root") as the one running the test.
func asUser(line string) string {
	u, err := user.Current()
	if err != nil || u.Username == "root" {
		return line
	}
	return strings.NewReplacer(" as root", " as "+u.Username, " by root", " by "+u.Username).Replace(line)
}
