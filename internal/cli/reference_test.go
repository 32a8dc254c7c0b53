package cli_test

import (
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"

	"upshift.dev/upshift/internal/cli"
)

// TestCLIReference: docs/cli holds the reference of every command as the
// commands describe themselves (cobra's markdown); a command, flag or
// help text changed without `make docs` fails here, naming the page.
func TestCLIReference(t *testing.T) {
	// Flag defaults that come from the environment are shown as they are
	// for a user with none of upshift's variables set.
	for k, v := range map[string]string{"HOME": "/home/you", "XDG_CACHE_HOME": "", "UPSHIFT_HOME": "", "UPSHIFT_CACHE": "", "UPSHIFT_HUB": "", "UPSHIFT_HUB_NAMESPACE": "", "KUBECONFIG": ""} {
		t.Setenv(k, v)
	}
	want, err := cliReference()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("..", "..", "docs", "cli")
	if os.Getenv("UPSHIFT_UPDATE_DOCS") != "" {
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, page := range want {
			if err := os.WriteFile(filepath.Join(dir, name), page, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("%v: write the reference with `make docs`", err)
	}
	have := map[string]bool{}
	for _, e := range entries {
		have[e.Name()] = true
		page, ok := want[e.Name()]
		if !ok {
			t.Errorf("docs/cli/%s is of no command: `make docs` removes it", e.Name())
			continue
		}
		got, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, page) {
			t.Errorf("docs/cli/%s is stale: `make docs` writes it again", e.Name())
		}
	}
	var missing []string
	for name := range want {
		if !have[name] {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("docs/cli lacks %s: `make docs` writes them", strings.Join(missing, ", "))
	}
}

// cliReference is the markdown page of each command, by file name.
func cliReference() (map[string][]byte, error) {
	root := cli.NewRootCommand(cli.Streams{In: strings.NewReader(""), Out: &bytes.Buffer{}, Err: &bytes.Buffer{}})
	out := map[string][]byte{}
	var walk func(c *cobra.Command) error
	walk = func(c *cobra.Command) error {
		c.DisableAutoGenTag = true
		for _, sub := range c.Commands() {
			if err := walk(sub); err != nil {
				return err
			}
		}
		if !c.IsAvailableCommand() && c != root {
			return nil
		}
		var page bytes.Buffer
		if err := doc.GenMarkdownCustom(c, &page, func(name string) string { return name }); err != nil {
			return err
		}
		out[strings.ReplaceAll(c.CommandPath(), " ", "_")+".md"] = page.Bytes()
		return nil
	}
	return out, walk(root)
}
