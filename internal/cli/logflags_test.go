package cli_test

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"upshift.dev/upshift/internal/testfleet"
)

// TestServerLogFlags: the gateway with --log-format json writes one JSON
// object per line on its error stream, its own progress lines included;
// a format or level it does not know is bad input (exit 2).
func TestServerLogFlags(t *testing.T) {
	for _, args := range [][]string{
		{"gateway", "--config", "x.yaml", "--log-format", "yaml"},
		{"gateway", "--config", "x.yaml", "--log-level", "loud"},
		{"hub", "run", "--log-format", "xml"},
	} {
		code, _, stderr := run(t, args...)
		if code != 2 || !strings.Contains(stderr, "--log-") {
			t.Errorf("upshift %s: exit %d\n%s", strings.Join(args, " "), code, stderr)
		}
	}
	// A server logging JSON that fails before it serves says why in a
	// JSON record too.
	code, _, early := run(t, "gateway", "--config", "no-such.yaml", "--log-format", "json")
	var rec struct {
		Level, Msg string
		ExitCode   int
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(early)), &rec); code == 0 || err != nil || rec.Level != "ERROR" || !strings.Contains(rec.Msg, "no-such.yaml") || rec.ExitCode != code {
		t.Errorf("gateway failing early with --log-format json: exit %d, %v\n%s", code, err, early)
	}

	dir := t.TempDir()
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte("s3cret-admin-token-0123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "gateway.yaml")
	if err := os.WriteFile(cfg, []byte(`listen: 127.0.0.1:0
adminListen: 127.0.0.1:0
adminTokenFile: `+token+`
stateFile: `+filepath.Join(dir, "state.json")+`
routes:
- host: shop.example
  backends: [{name: blue, url: "http://127.0.0.1:1", weight: 100}]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := testfleet.CLI("gateway", "--config", cfg, "--log-format", "json", "--log-level", "info")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var seen []string
	deadline := time.After(30 * time.Second)
	for serving := false; !serving; {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("the gateway ended:\n%s", strings.Join(seen, "\n"))
			}
			seen = append(seen, line)
			var rec map[string]any
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatalf("a line that is no JSON object: %q (%v)", line, err)
			}
			if rec["level"] == nil || rec["msg"] == nil || rec["time"] == nil {
				t.Errorf("a record without time, level or msg: %q", line)
			}
			// The command's own line, once it serves, is a record too.
			serving = rec["kind"] == "success" && strings.HasPrefix(rec["msg"].(string), "gateway serving on ")
		case <-deadline:
			t.Fatalf("no serving record in 30s:\n%s", strings.Join(seen, "\n"))
		}
	}
	if strings.Contains(strings.Join(seen, "\n"), "s3cret-admin-token-0123") {
		t.Errorf("the log holds the admin token:\n%s", strings.Join(seen, "\n"))
	}
}
