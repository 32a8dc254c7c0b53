package cli_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDocsLinked: the README stays under 300 lines and links every page
// of docs/ (docs/cli through its index), and no relative link of the
// README or of a docs page points at a file that does not exist.
func TestDocsLinked(t *testing.T) {
	root := filepath.Join("..", "..")
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(readme), "\n"); n >= 300 {
		t.Errorf("README.md has %d lines: keep it under 300, and move the rest into docs/", n)
	}
	pages, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	sub, _ := filepath.Glob(filepath.Join(root, "docs", "providers", "*.md"))
	pages = append(pages, append(sub, filepath.Join(root, "docs", "cli", "upshift.md"))...)
	for _, p := range pages {
		rel, _ := filepath.Rel(root, p)
		if !strings.Contains(string(readme), "("+filepath.ToSlash(rel)) {
			t.Errorf("README.md does not link %s", rel)
		}
	}
	link := regexp.MustCompile(`\]\(([^)#\s]+)(#[^)]*)?\)`)
	for _, p := range append(pages, filepath.Join(root, "README.md")) {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range link.FindAllStringSubmatch(string(data), -1) {
			target := m[1]
			if strings.Contains(target, "://") {
				continue
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(p), target)); err != nil {
				rel, _ := filepath.Rel(root, p)
				t.Errorf("%s links %s, which does not exist", rel, target)
			}
		}
	}
}
