package nodeimages

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"upshift.dev/upshift/internal/atomicfile"
)

// Kind and APIVersion of a feed file.
const (
	Kind       = "NodeImageFeed"
	APIVersion = "upshift.dev/v1alpha1"
)

// Severities of a CVE, most severe first.
var Severities = []string{"Critical", "High", "Medium", "Low"}

// Feed is a node-image catalogue, oldest image first.
type Feed struct {
	APIVersion string  `json:"apiVersion"`
	Kind       string  `json:"kind"`
	Images     []Image `json:"images"`
}

// Image is one node image release.
type Image struct {
	Version  string      `json:"version"`
	Released metav1.Time `json:"released"`
	// Fixes are the CVEs this image is the first to fix.
	Fixes []CVE `json:"fixes,omitempty"`
}

// CVE is a vulnerability an image fixes.
type CVE struct {
	ID       string `json:"id"`
	Severity string `json:"severity"`
	Summary  string `json:"summary,omitempty"`
}

var (
	versionPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$`)
	cvePattern     = regexp.MustCompile(`^CVE-\d{4}-\d{4,}$`)
)

// CheckVersion says whether s can name a node image.
func CheckVersion(s string) error {
	if !versionPattern.MatchString(s) {
		return fmt.Errorf("node image %q: use lowercase letters, digits, '.', '-' and '_' (at most 63), e.g. ubuntu-2204-2025.04", s)
	}
	return nil
}

// CheckCVE says whether s is a CVE identifier.
func CheckCVE(s string) error {
	if !cvePattern.MatchString(s) {
		return fmt.Errorf("%q is not a CVE identifier: write it as CVE-2025-12345", s)
	}
	return nil
}

// CheckSeverity says whether s is a severity.
func CheckSeverity(s string) error {
	if !slices.Contains(Severities, s) {
		return fmt.Errorf("severity %q: use one of %s", s, strings.Join(Severities, ", "))
	}
	return nil
}

// Default is the catalogue of a local fleet that has published nothing:
// the images local pools start on, with sample CVEs.
func Default() *Feed {
	day := func(s string) metav1.Time {
		t, _ := time.Parse(time.DateOnly, s)
		return metav1.NewTime(t)
	}
	return &Feed{APIVersion: APIVersion, Kind: Kind, Images: []Image{
		{Version: "ubuntu-2204-2025.01", Released: day("2025-01-14")},
		{Version: "ubuntu-2204-2025.02", Released: day("2025-02-11"), Fixes: []CVE{
			{ID: "CVE-2025-10001", Severity: "High", Summary: "sample: OpenSSL certificate check bypass"},
		}},
		{Version: "ubuntu-2204-2025.03", Released: day("2025-03-11"), Fixes: []CVE{
			{ID: "CVE-2025-10002", Severity: "Medium", Summary: "sample: containerd image layer path traversal"},
			{ID: "CVE-2025-10003", Severity: "Low", Summary: "sample: kernel information leak"},
		}},
	}}
}

// Parse reads a feed and checks it: known fields only, valid versions,
// CVE identifiers and severities, no image twice.
func Parse(name string, data []byte) (*Feed, error) {
	var f Feed
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if f.Kind != Kind || f.APIVersion != APIVersion {
		return nil, fmt.Errorf("%s: want apiVersion %s and kind %s, got %q and %q", name, APIVersion, Kind, f.APIVersion, f.Kind)
	}
	if err := f.check(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	f.sort()
	return &f, nil
}

func (f *Feed) check() error {
	var errs []error
	seen := map[string]bool{}
	for i, img := range f.Images {
		where := fmt.Sprintf("images[%d]", i)
		if err := CheckVersion(img.Version); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
		}
		if seen[img.Version] {
			errs = append(errs, fmt.Errorf("%s: image %s is listed twice", where, img.Version))
		}
		seen[img.Version] = true
		if img.Released.IsZero() {
			errs = append(errs, fmt.Errorf("%s: image %s has no released time (e.g. released: \"2025-04-08T00:00:00Z\")", where, img.Version))
		}
		for j, c := range img.Fixes {
			if err := CheckCVE(c.ID); err != nil {
				errs = append(errs, fmt.Errorf("%s.fixes[%d]: %w", where, j, err))
			}
			if err := CheckSeverity(c.Severity); err != nil {
				errs = append(errs, fmt.Errorf("%s.fixes[%d]: %w", where, j, err))
			}
		}
	}
	if len(f.Images) == 0 {
		errs = append(errs, errors.New("the feed lists no images"))
	}
	return errors.Join(errs...)
}

// sort orders images by release, oldest first (stable, so images of one
// instant keep the feed's order).
func (f *Feed) sort() {
	slices.SortStableFunc(f.Images, func(a, b Image) int { return a.Released.Compare(b.Released.Time) })
}

// Load reads a feed file; a file that does not exist is the Default feed.
func Load(path string) (*Feed, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Default(), nil
	}
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Save writes a feed file atomically.
func Save(path string, f *Feed) error {
	data, err := yaml.Marshal(f)
	if err != nil {
		return err
	}
	return atomicfile.Write(path, data, 0o644)
}

// Versions lists the images, oldest first.
func (f *Feed) Versions() []string {
	out := make([]string, len(f.Images))
	for i, img := range f.Images {
		out[i] = img.Version
	}
	return out
}

// Latest is the newest image.
func (f *Feed) Latest() Image { return f.Images[len(f.Images)-1] }

// Find looks an image up.
func (f *Feed) Find(version string) (Image, bool) {
	i := f.index(version)
	if i < 0 {
		return Image{}, false
	}
	return f.Images[i], true
}

func (f *Feed) index(version string) int {
	return slices.IndexFunc(f.Images, func(img Image) bool { return img.Version == version })
}

// Require finds an image or says which ones exist.
func (f *Feed) Require(version string) (Image, error) {
	if img, ok := f.Find(version); ok {
		return img, nil
	}
	return Image{}, fmt.Errorf("node image %s is not in the catalogue, which has %s", version, strings.Join(f.Versions(), ", "))
}

// Behind is how many releases are newer than version; an image the feed
// does not know is behind all of them.
func (f *Feed) Behind(version string) int {
	return len(f.Images) - 1 - f.index(version)
}

// Open lists the CVEs an image leaves open: those fixed by newer images.
// An image the feed does not know leaves every CVE of the feed open.
func (f *Feed) Open(version string) []CVE {
	var out []CVE
	for _, img := range f.Images[f.index(version)+1:] {
		out = append(out, img.Fixes...)
	}
	return out
}

// Fixing is the oldest image that fixes a CVE.
func (f *Feed) Fixing(id string) (Image, bool) {
	for _, img := range f.Images {
		for _, c := range img.Fixes {
			if c.ID == id {
				return img, true
			}
		}
	}
	return Image{}, false
}

// Publish adds an image to the feed; its version must be new, and its
// release no older than the newest image's.
func (f *Feed) Publish(img Image) error {
	if err := CheckVersion(img.Version); err != nil {
		return err
	}
	if _, ok := f.Find(img.Version); ok {
		return fmt.Errorf("node image %s is in the catalogue already", img.Version)
	}
	if latest := f.Latest(); img.Released.Before(&latest.Released) {
		return fmt.Errorf("node image %s would be released (%s) before the newest image %s (%s): a feed only grows forward", img.Version, img.Released.UTC().Format(time.RFC3339), latest.Version, latest.Released.UTC().Format(time.RFC3339))
	}
	for _, c := range img.Fixes {
		if err := CheckCVE(c.ID); err != nil {
			return err
		}
		if err := CheckSeverity(c.Severity); err != nil {
			return fmt.Errorf("%s: %w", c.ID, err)
		}
	}
	f.Images = append(f.Images, img)
	return nil
}

// MostSevere is the highest severity among cves, "" when there are none.
func MostSevere(cves []CVE) string {
	best := len(Severities)
	for _, c := range cves {
		if i := slices.Index(Severities, c.Severity); i >= 0 && i < best {
			best = i
		}
	}
	if best == len(Severities) {
		return ""
	}
	return Severities[best]
}
