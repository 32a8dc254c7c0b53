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
	"upshift.dev/upshift/internal/printer"
)

type localImagesOptions struct {
	*localOptions
	output string
}

func newLocalImagesCommand(parent *localOptions) *cobra.Command {
	o := &localImagesOptions{localOptions: parent}
	cmd := &cobra.Command{
		Use:   "images [-o table|json|yaml]",
		Short: "List the node images local pools can run, with release dates and the CVEs each fixes",
		Long: `List the local fleet's node-image catalogue, oldest first: node-images.yaml in
the home (kind NodeImageFeed), or the built-in catalogue until an image is
published. Node-image runs, upshift patch, upshift schedule and the compliance
report read it.`,
		Args: exactArgs(0, ""),
		RunE: runE(o),
	}
	cmd.Flags().StringVarP(&o.output, "output", "o", outputTable, "table, json or yaml")
	cmd.AddCommand(newLocalImagesPublishCommand(parent))
	return cmd
}

func (o *localImagesOptions) Complete(*cobra.Command, []string) error { return nil }

func (o *localImagesOptions) Validate() error {
	return validateOutput(o.output, outputTable, outputJSON, outputYAML)
}

func (o *localImagesOptions) Run(context.Context) error {
	f, err := o.localFleet()
	if err != nil {
		return err
	}
	feed, err := nodeimages.Load(f.NodeImagesPath())
	if err != nil {
		return err
	}
	if o.output != outputTable {
		return writeData(o.streams.Out, o.output, feed)
	}
	var rows [][]string
	for _, img := range feed.Images {
		var fixes []string
		for _, c := range img.Fixes {
			fixes = append(fixes, c.ID+" ("+c.Severity+")")
		}
		rows = append(rows, []string{img.Version, img.Released.UTC().Format(time.RFC3339), orNone(strings.Join(fixes, ", "))})
	}
	return printer.Table(o.streams.Out, []string{"IMAGE", "RELEASED", "FIXES"}, rows)
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

type localImagesPublishOptions struct {
	*localOptions
	cves              []string
	released, summary string
	image             nodeimages.Image
}

func newLocalImagesPublishCommand(parent *localOptions) *cobra.Command {
	o := &localImagesPublishOptions{localOptions: parent}
	cmd := &cobra.Command{
		Use:   "publish IMAGE [--cve CVE-ID[:SEVERITY]]... [--released TIME]",
		Short: "Publish a new node image into the local catalogue, as a cloud releases one",
		Example: `  upshift local images publish ubuntu-2204-2026.12 --cve CVE-2026-4242:Critical
  upshift local images publish ubuntu-2204-2027.01 --released 2027-01-12T00:00:00Z`,
		Args: exactArgs(1, "IMAGE"),
		RunE: runE(o),
	}
	cmd.Flags().StringArrayVar(&o.cves, "cve", nil, "a CVE the image fixes, as ID or ID:SEVERITY (Critical, High, Medium, Low; default High); repeat for more")
	cmd.Flags().StringVar(&o.released, "released", "", "release time, RFC 3339 (default now)")
	cmd.Flags().StringVar(&o.summary, "summary", "", "what the CVEs are, shown in reports")
	return cmd
}

func (o *localImagesPublishOptions) Complete(_ *cobra.Command, args []string) error {
	o.image = nodeimages.Image{Version: args[0], Released: metav1.NewTime(time.Now().UTC().Truncate(time.Second))}
	return nil
}

func (o *localImagesPublishOptions) Validate() error {
	if err := nodeimages.CheckVersion(o.image.Version); err != nil {
		return usageError{Err: err}
	}
	if o.released != "" {
		t, err := time.Parse(time.RFC3339, o.released)
		if err != nil {
			return usagef("--released %q: use RFC 3339, e.g. 2026-12-01T09:00:00Z", o.released)
		}
		o.image.Released = metav1.NewTime(t.UTC())
	}
	for _, c := range o.cves {
		id, severity, ok := strings.Cut(c, ":")
		if !ok {
			severity = "High"
		}
		if err := nodeimages.CheckCVE(id); err != nil {
			return usageError{Err: fmt.Errorf("--cve: %w", err)}
		}
		if err := nodeimages.CheckSeverity(severity); err != nil {
			return usageError{Err: fmt.Errorf("--cve %s: %w", id, err)}
		}
		o.image.Fixes = append(o.image.Fixes, nodeimages.CVE{ID: id, Severity: severity, Summary: o.summary})
	}
	return nil
}

func (o *localImagesPublishOptions) Run(ctx context.Context) error {
	f, err := o.localFleet()
	if err != nil {
		return err
	}
	feed, err := publishImage(ctx, f.Home, o.image)
	if err != nil {
		return err
	}
	img := o.image
	o.printer.Success("node image %s published (released %s, fixes %d CVE(s)); %d images in %s", img.Version, img.Released.UTC().Format(time.RFC3339), len(img.Fixes), len(feed.Images), f.NodeImagesPath())
	return nil
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
		return nil, usageError{Err: err}
	}
	return feed, nodeimages.Save(path, feed)
}
