package cli

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"upshift.dev/upshift/internal/filelock"
	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/nodeimages"
)

func newLocalImagesCommand(o *localOptions) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "images [-o table|json|yaml]",
		Short: "List the node images local pools can run, with release dates and the CVEs each fixes",
		Long: `List the local fleet's node-image catalogue, oldest first: node-images.yaml in
the home (kind NodeImageFeed), or the built-in catalogue until an image is
published. Node-image runs, upshift patch, upshift schedule and the compliance
report read it.`,
		Args: exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := validateOutput(output, outputTable, outputJSON, outputYAML); err != nil {
				return err
			}
			f, err := o.fleet()
			if err != nil {
				return err
			}
			feed, err := nodeimages.Load(f.NodeImagesPath())
			if err != nil {
				return err
			}
			if output != outputTable {
				return writeData(o.streams.Out, output, feed)
			}
			var rows [][]string
			for _, img := range feed.Images {
				var fixes []string
				for _, c := range img.Fixes {
					fixes = append(fixes, c.ID+" ("+c.Severity+")")
				}
				rows = append(rows, []string{img.Version, img.Released.UTC().Format(time.RFC3339), orNone(strings.Join(fixes, ", "))})
			}
			return table(o.streams.Out, []string{"IMAGE", "RELEASED", "FIXES"}, rows)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", outputTable, "table, json or yaml")
	cmd.AddCommand(newLocalImagesPublishCommand(o))
	return cmd
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newLocalImagesPublishCommand(o *localOptions) *cobra.Command {
	var (
		cves     []string
		released string
		summary  string
	)
	cmd := &cobra.Command{
		Use:   "publish IMAGE [--cve CVE-ID[:SEVERITY]]... [--released TIME]",
		Short: "Publish a new node image into the local catalogue, as a cloud releases one",
		Example: `  upshift local images publish ubuntu-2204-2026.12 --cve CVE-2026-4242:Critical
  upshift local images publish ubuntu-2204-2027.01 --released 2027-01-12T00:00:00Z`,
		Args: exactArgs(1, "IMAGE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			img := nodeimages.Image{Version: args[0], Released: metav1.NewTime(time.Now().UTC().Truncate(time.Second))}
			if err := nodeimages.CheckVersion(img.Version); err != nil {
				return usageError{err}
			}
			if released != "" {
				t, err := time.Parse(time.RFC3339, released)
				if err != nil {
					return usagef("--released %q: use RFC 3339, e.g. 2026-12-01T09:00:00Z", released)
				}
				img.Released = metav1.NewTime(t.UTC())
			}
			for _, c := range cves {
				id, severity, ok := strings.Cut(c, ":")
				if !ok {
					severity = "High"
				}
				if err := nodeimages.CheckCVE(id); err != nil {
					return usageError{fmt.Errorf("--cve: %w", err)}
				}
				if err := nodeimages.CheckSeverity(severity); err != nil {
					return usageError{fmt.Errorf("--cve %s: %w", id, err)}
				}
				img.Fixes = append(img.Fixes, nodeimages.CVE{ID: id, Severity: severity, Summary: summary})
			}
			f, err := o.fleet()
			if err != nil {
				return err
			}
			feed, err := publishImage(cmd.Context(), f.Home, img)
			if err != nil {
				return err
			}
			path := f.NodeImagesPath()
			o.printer.Success("node image %s published (released %s, fixes %d CVE(s)); %d images in %s", img.Version, img.Released.UTC().Format(time.RFC3339), len(img.Fixes), len(feed.Images), path)
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&cves, "cve", nil, "a CVE the image fixes, as ID or ID:SEVERITY (Critical, High, Medium, Low; default High); repeat for more")
	cmd.Flags().StringVar(&released, "released", "", "release time, RFC 3339 (default now)")
	cmd.Flags().StringVar(&summary, "summary", "", "what the CVEs are, shown in reports")
	return cmd
}

// publishImage adds an image to the catalogue of the local fleet in home,
// under the catalogue's lock.
func publishImage(ctx context.Context, home string, img nodeimages.Image) (*nodeimages.Feed, error) {
	path := (&localfleet.Fleet{Home: home}).NodeImagesPath()
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, err
	}
	unlock, err := filelock.LockContext(ctx, path+".lock")
	if err != nil {
		return nil, err
	}
	defer unlock()
	feed, err := nodeimages.Load(path)
	if err != nil {
		return nil, err
	}
	if err := feed.Publish(img); err != nil {
		return nil, usageError{err}
	}
	return feed, nodeimages.Save(path, feed)
}
