package testfleet

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"upshift.dev/upshift/internal/cli"
	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/toolchain"
)

var fleet *localfleet.Fleet

// cliEnv makes the test binary act as the upshift CLI.
const cliEnv = "UPSHIFT_TEST_RUN_CLI"

// CLI returns a command that runs the upshift CLI (this test binary acting
// as it) with args, against the package's fleet home.
func CLI(args ...string) *exec.Cmd {
	exe, _ := os.Executable()
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), cliEnv+"=1", "UPSHIFT_HOME="+fleet.Home)
	return cmd
}

// RunCLI runs the upshift CLI with args and returns its exit code and
// what it printed (stdout and stderr); a CLI that cannot start fails t.
func RunCLI(t testing.TB, args ...string) (int, string) {
	t.Helper()
	return Exit(t, CLI(args...))
}

// Exit runs cmd and returns its exit code and what it printed (stdout and
// stderr); a command that cannot start fails t.
func Exit(t testing.TB, cmd *exec.Cmd) (int, string) {
	t.Helper()
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), string(out)
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, string(out)
}

// Main is TestMain for packages that run local clusters.
func Main(m *testing.M) {
	// The fleet starts this binary as `local serve-ingress ...`; crash tests
	// run it as the upshift CLI, to kill it.
	if os.Getenv(cliEnv) == "1" || len(os.Args) > 2 && os.Args[1] == "local" && os.Args[2] == "serve-ingress" {
		os.Exit(cli.Main(context.Background(), os.Args[1:], cli.Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}))
	}
	flag.Parse()
	home, err := os.MkdirTemp("", "upshift-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fleet = &localfleet.Fleet{
		Home:          home,
		Tools:         &toolchain.Cache{Dir: toolchain.DefaultCacheDir(), Log: os.Stderr},
		DaemonCommand: []string{exe},
	}
	if testing.Verbose() {
		fleet.Progress = os.Stderr
	}
	code := m.Run()
	if _, err := fleet.DownAll(); err != nil {
		fmt.Fprintln(os.Stderr, "cleaning up local clusters:", err)
		code = 1
	}
	os.RemoveAll(home)
	os.Exit(code)
}

// Fleet returns the package's fleet.
func Fleet(t testing.TB) *localfleet.Fleet {
	t.Helper()
	if fleet == nil {
		t.Fatal("testfleet.Main must be the package's TestMain")
	}
	return fleet
}

// Up starts a cluster for the test and removes it when the test ends.
func Up(t testing.TB, spec localfleet.Spec) *localfleet.Cluster {
	t.Helper()
	f := Fleet(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	c, err := f.Up(ctx, spec)
	if err != nil {
		t.Fatalf("local up %s: %v", spec.Name, err)
	}
	t.Cleanup(func() {
		if err := f.Down(spec.Name); err != nil {
			t.Errorf("local down %s: %v", spec.Name, err)
		}
	})
	return c
}

// LogDir is where a cluster's component logs are, for failure messages.
func LogDir(c *localfleet.Cluster) string { return filepath.Join(c.Dir(), "logs") }

// NodesAt records the name of every node that reports kubelet version
// while it runs: crash tests count them to show no surge happened twice.
// Stop ends the watch and returns the names seen.
func NodesAt(t testing.TB, client kubernetes.Interface, version string) (stop func() map[string]bool) {
	t.Helper()
	return nodesWhere(t, client, func(n *corev1.Node) bool { return n.Status.NodeInfo.KubeletVersion == version })
}

// NodesWithImage records the name of every node that carries the local
// fleet's node image label image, as NodesAt does for a version.
func NodesWithImage(t testing.TB, client kubernetes.Interface, image string) (stop func() map[string]bool) {
	t.Helper()
	return nodesWhere(t, client, func(n *corev1.Node) bool { return n.Labels[localfleet.LabelNodeImage] == image })
}

func nodesWhere(t testing.TB, client kubernetes.Interface, match func(*corev1.Node) bool) (stop func() map[string]bool) {
	seen := map[string]bool{}
	var mu sync.Mutex
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			if list, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err == nil {
				mu.Lock()
				for i := range list.Items {
					if match(&list.Items[i]) {
						seen[list.Items[i].Name] = true
					}
				}
				mu.Unlock()
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	stopped := false
	stop = func() map[string]bool {
		if !stopped {
			cancel()
			<-done
			stopped = true
		}
		mu.Lock()
		defer mu.Unlock()
		return seen
	}
	t.Cleanup(func() { stop() })
	return stop
}

// KillWhen runs the upshift CLI with args and SIGKILLs it as soon as cond
// holds (polled every 20ms): how crash tests cut a run at a chosen point.
// The test fails, showing the CLI's output, if cond does not hold within
// timeout.
func KillWhen(t testing.TB, timeout time.Duration, cond func() bool, args ...string) {
	t.Helper()
	p := CLI(args...)
	var out SyncBuffer
	p.Stdout, p.Stderr = &out, &out
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = p.Process.Kill()
		_ = p.Wait()
	}()
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("upshift %s: the kill point never came within %s\n%s", strings.Join(args, " "), timeout, out.String())
}

// SyncBuffer is output written by one goroutine (a command, a server's
// log) and read by another.
type SyncBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
