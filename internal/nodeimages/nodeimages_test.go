package nodeimages

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestParseRefusesBadFeeds(t *testing.T) {
	head := "apiVersion: upshift.dev/v1alpha1\nkind: NodeImageFeed\n"
	for name, tc := range map[string]struct{ doc, want string }{
		"unknown field":  {head + "images:\n- version: a\n  released: \"2025-01-01T00:00:00Z\"\n  colour: red\n", "unknown field"},
		"wrong kind":     {"apiVersion: upshift.dev/v1alpha1\nkind: Feed\nimages: []\n", "want apiVersion"},
		"no images":      {head + "images: []\n", "lists no images"},
		"bad version":    {head + "images:\n- version: Ubuntu 22\n  released: \"2025-01-01T00:00:00Z\"\n", "lowercase letters"},
		"twice":          {head + "images:\n- version: a\n  released: \"2025-01-01T00:00:00Z\"\n- version: a\n  released: \"2025-01-02T00:00:00Z\"\n", "listed twice"},
		"no release":     {head + "images:\n- version: a\n", "no released time"},
		"bad cve":        {head + "images:\n- version: a\n  released: \"2025-01-01T00:00:00Z\"\n  fixes:\n  - id: cve-1\n    severity: High\n", "not a CVE identifier"},
		"bad severity":   {head + "images:\n- version: a\n  released: \"2025-01-01T00:00:00Z\"\n  fixes:\n  - id: CVE-2025-1234\n    severity: severe\n", "use one of Critical"},
		"malformed YAML": {head + "images: [\n", "feed.yaml"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse("feed.yaml", []byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestQueries(t *testing.T) {
	f := Default()
	if got := f.Latest().Version; got != "ubuntu-2204-2025.03" {
		t.Fatalf("latest %s", got)
	}
	for _, tc := range []struct {
		image  string
		behind int
		open   []string
	}{
		{"ubuntu-2204-2025.01", 2, []string{"CVE-2025-10001", "CVE-2025-10002", "CVE-2025-10003"}},
		{"ubuntu-2204-2025.02", 1, []string{"CVE-2025-10002", "CVE-2025-10003"}},
		{"ubuntu-2204-2025.03", 0, nil},
		{"unknown", 3, []string{"CVE-2025-10001", "CVE-2025-10002", "CVE-2025-10003"}},
	} {
		if got := f.Behind(tc.image); got != tc.behind {
			t.Errorf("%s behind %d, want %d", tc.image, got, tc.behind)
		}
		var ids []string
		for _, c := range f.Open(tc.image) {
			ids = append(ids, c.ID)
		}
		if strings.Join(ids, ",") != strings.Join(tc.open, ",") {
			t.Errorf("%s open %v, want %v", tc.image, ids, tc.open)
		}
	}
	if got := MostSevere(f.Open("ubuntu-2204-2025.01")); got != "High" {
		t.Errorf("most severe %q", got)
	}
	if img, ok := f.Fixing("CVE-2025-10003"); !ok || img.Version != "ubuntu-2204-2025.03" {
		t.Errorf("fixing %v %v", img.Version, ok)
	}
}

func TestPublishAndReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "node-images.yaml")
	f, err := Load(path)
	if err != nil || len(f.Images) != 3 {
		t.Fatalf("a missing feed is the default: %v %d", err, len(f.Images))
	}
	now := metav1.NewTime(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	img := Image{Version: "ubuntu-2204-2026.12", Released: now, Fixes: []CVE{{ID: "CVE-2026-4242", Severity: "Critical"}}}
	if err := f.Publish(img); err != nil {
		t.Fatal(err)
	}
	if err := f.Publish(img); err == nil || !strings.Contains(err.Error(), "already") {
		t.Fatalf("publishing twice: %v", err)
	}
	old := Image{Version: "ubuntu-2204-2020.01", Released: metav1.NewTime(now.AddDate(-1, 0, 0))}
	if err := f.Publish(old); err == nil || !strings.Contains(err.Error(), "grows forward") {
		t.Fatalf("publishing an older release: %v", err)
	}
	if err := f.Publish(Image{Version: "x", Released: now, Fixes: []CVE{{ID: "CVE-2026-1", Severity: "High"}}}); err == nil {
		t.Fatal("a bad CVE id was published")
	}
	if err := Save(path, f); err != nil {
		t.Fatal(err)
	}
	back, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if back.Latest().Version != img.Version || !back.Latest().Released.Time.Equal(now.Time) || back.Behind("ubuntu-2204-2025.03") != 1 {
		t.Fatalf("reloaded %+v", back.Latest())
	}
	if _, err := back.Require("nope"); err == nil || !strings.Contains(err.Error(), "ubuntu-2204-2026.12") {
		t.Fatalf("require: %v", err)
	}
}
