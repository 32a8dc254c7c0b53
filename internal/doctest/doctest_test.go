package doctest

import (
	"strings"
	"testing"
)

// TestMatch: what may differ from run to run matches any value of its
// kind; anything else, a version, a count or a word, must be as written.
func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		name      string
		want, got string
		ok        bool
	}{
		{"same", "✔ local cluster prod removed", "✔ local cluster prod removed", true},
		{"duration and port", "✔ ready in 6.3s: v1.35.4\napi server: https://127.0.0.1:23380", "✔ ready in 12s: v1.35.4\napi server: https://127.0.0.1:4012", true},
		{"compound duration", "opens Sun 6 Dec 02:00 UTC, in 76h42m31s", "opens Mon 14 Dec 02:00 UTC, in 1m8.2s", true},
		{"timestamps", "published (released 2026-12-02T21:12:30Z)\nrun demo-20261123-150135 Completed 2026-12-02 21:34 at 15:02:43", "published (released 2027-01-09T01:02:03Z)\nrun demo-20270109-010203 Completed 2027-01-09 01:02 at 01:02:03", true},
		{"table realigned", "NAME   VERSION   HEALTH\nprod   v1.35.4   Healthy", "NAME VERSION HEALTH\nprod v1.35.4 Healthy", true},
		{"gap", "► bringing up\n...\n✔ ready in 6.3s", "► bringing up\n► nodes\n► more\n✔ ready in 1s", true},
		{"gap matching nothing", "a\n…\nb", "a\nb", true},
		{"another version", "✔ ready in 6.3s: v1.35.4", "✔ ready in 6.3s: v1.35.5", false},
		{"another count", "nodes system=2/2 user=3/3", "nodes system=2/2 user=2/3", false},
		{"a word changed", "✗ cannot downgrade the control plane", "✗ cannot downgrade the cluster", false},
		{"a line missing", "a\nb\nc", "a\nc", false},
		{"a line more", "a\nb", "a\nb\nc", false},
		{"not a duration", "fixes 1 CVE(s)", "fixes 2 CVE(s)", false},
		{"exit code", "exit=2", "exit=0", false},
		{"port is only a port", "http://127.0.0.1:31324", "http://10.0.0.1:31324", false},
	} {
		err := Match(strings.Split(tc.want, "\n"), strings.Split(tc.got, "\n"))
		if (err == nil) != tc.ok {
			t.Errorf("%s: Match = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}

// TestMatchSaysWhatDiffers: a mismatch names the page's line that was not
// printed.
func TestMatchSaysWhatDiffers(t *testing.T) {
	err := Match([]string{"a", "...", "b v1", "c"}, []string{"a", "x", "b v2", "c"})
	if err == nil || !strings.Contains(err.Error(), `"b v1"`) {
		t.Fatalf("Match = %v, want it to name the line b v1", err)
	}
}

// TestParse: sessions with their commands (continued lines joined) and
// output, files with their paths, and sessions left out with their reason.
func TestParse(t *testing.T) {
	page := "intro\n" +
		"<!-- file: manifests/app.yaml -->\n" +
		"```yaml\n" +
		"kind: Ingress\n" +
		"```\n" +
		"- in a list:\n" +
		"  ```console\n" +
		"  $ upshift scan apis \\\n" +
		"      -f manifests/\n" +
		"  out 1\n" +
		"  $ echo $?\n" +
		"  5\n" +
		"  ```\n" +
		"<!-- not run: needs a hub -->\n" +
		"```console\n" +
		"$ upshift hub run\n" +
		"```\n" +
		"```\n" +
		"output only, no prompt\n" +
		"```\n"
	blocks, err := Parse("p.md", []byte(page))
	if err != nil {
		t.Fatal(err)
	}
	if len(blocks) != 3 {
		t.Fatalf("%d blocks, want 3: %+v", len(blocks), blocks)
	}
	if f := blocks[0]; f.File != "manifests/app.yaml" || f.Text != "kind: Ingress\n" {
		t.Errorf("file block = %+v", f)
	}
	s := blocks[1]
	if len(s.Commands) != 2 || s.Commands[0].Run != "upshift scan apis  -f manifests/" || s.Commands[0].Line != 8 ||
		strings.Join(s.Commands[0].Want, "|") != "out 1" || !ReadsExit(s.Commands[1].Run) || s.Commands[1].Want[0] != "5" {
		t.Errorf("session = %+v", s)
	}
	if blocks[2].NotRun != "needs a hub" {
		t.Errorf("left out = %+v", blocks[2])
	}
	if _, err := Parse("p.md", []byte("```console\n$ upshift version\n")); err == nil {
		t.Error("a block never closed was read")
	}
}
