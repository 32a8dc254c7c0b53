package demo

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/compliance"
	"upshift.dev/upshift/internal/fleet"
	"upshift.dev/upshift/internal/nodeimages"
	"upshift.dev/upshift/internal/patch"
)

// The demo's strategy for the patch: the fleet's rings with hour-long
// soaks and a change board before production, which its emergency policy
// compresses.
const demoPatchStrategy = `apiVersion: upshift.dev/v1alpha1
kind: UpdateStrategy
metadata: {name: rings}
spec:
  emergency: {afterStageWait: 3s, skipApprovals: true}
  stages:
  - name: development
    groups: [{name: dev-clusters}]
    afterStageWaitInSeconds: 3600
  - name: test
    groups: [{name: test-clusters}]
    afterStageWaitInSeconds: 3600
  - name: production
    groups: [{name: prod-clusters}]
    beforeStageTasks: [{type: Approval, name: change-board}]
`

// runPatch publishes a node image that fixes a critical CVE and patches
// the fleet with it: production only inside its maintenance window (open
// now), soaks cut by the emergency policy; the compliance report before
// and after, and each cluster's time from the image's release to patched.
func runPatch(ctx context.Context, d *Demo, dir string) error {
	out := d.Out
	data, err := os.ReadFile(filepath.Join(dir, "fleet.yaml"))
	if err != nil {
		return err
	}
	clusters, err := fleet.Parse("fleet.yaml", data)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	for i := range clusters {
		if clusters[i].Spec.Group == "prod-clusters" {
			clusters[i].Spec.MaintenanceWindow = &v1alpha1.MaintenanceWindow{
				Schedule:  v1alpha1.WindowSchedule{Daily: &v1alpha1.DailySchedule{IntervalDays: 1}},
				StartTime: now.Format("15") + ":00", DurationHours: 4,
			}
		}
	}
	data, err = fleet.Marshal(clusters)
	if err != nil {
		return err
	}
	fleetFile := filepath.Join(dir, "patch-fleet.yaml")
	strategy := filepath.Join(dir, "patch-strategy.yaml")
	for path, doc := range map[string][]byte{fleetFile: data, strategy: []byte(demoPatchStrategy)} {
		if err := os.WriteFile(path, doc, 0o600); err != nil {
			return err
		}
	}
	img := nodeimages.Image{Version: "ubuntu-2204-" + now.Format("2006.01.02-150405"), Released: metav1.NewTime(now.Truncate(time.Second)),
		Fixes: []nodeimages.CVE{{ID: "CVE-2026-50001", Severity: "Critical", Summary: "demo: a remote code execution in the node's container runtime"}}}
	fmt.Fprintf(out, "\n== Emergency patch: node image %s fixes %s (Critical) ==\n", img.Version, img.Fixes[0].ID)
	if err := d.CLI.PublishImage(ctx, img); err != nil {
		return err
	}
	d.Printer.Action("published %s into the local catalogue (as `upshift local images publish %s --cve %s:Critical`)", img.Version, img.Version, img.Fixes[0].ID)
	before, err := d.CLI.Compliance(ctx, fleetFile)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "\nCompliance before the patch (upshift report compliance):")
	if err := compliance.WriteText(out, before); err != nil {
		return err
	}
	// The image is named: a home that ran the demo before holds older
	// images fixing the same CVE, each patched by a run of its own.
	fmt.Fprintf(out, "\n$ upshift patch --cve %s --node-image %s --fleet %s -f %s\n", img.Fixes[0].ID, img.Version, fleetFile, strategy)
	req := patch.Request{Image: img.Version, CVEs: []string{img.Fixes[0].ID}, By: "demo-security-team", MaxSurge: intstr.FromString("50%"), DrainTimeout: 5 * time.Minute}
	if err := d.CLI.Patch(ctx, fleetFile, strategy, req); err != nil {
		return err
	}
	after, err := d.CLI.Compliance(ctx, fleetFile)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "\nCompliance after the patch:")
	if err := compliance.WriteText(out, after); err != nil {
		return err
	}
	if after.Totals.Compliant != after.Totals.Clusters {
		return fmt.Errorf("after the patch %d of %d clusters are compliant", after.Totals.Compliant, after.Totals.Clusters)
	}
	d.Printer.Success("every pool on %s, production inside its window, %s closed everywhere", img.Version, img.Fixes[0].ID)
	return nil
}
