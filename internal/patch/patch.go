package patch

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/nodeimages"
	"upshift.dev/upshift/internal/plan"
)

// Target is the seed's goal for a critical CVE: every cluster patched
// within this long of the image's release.
const Target = 4 * time.Hour

// Request asks for an emergency patch.
type Request struct {
	// Image is the node image to patch to; empty picks the oldest image
	// that fixes every CVE (and then the newest of the catalogue if no
	// CVE is named).
	Image string
	CVEs  []string
	// Strategy is the fleet's strategy; nil is one stage over every
	// cluster.
	Strategy *v1alpha1.UpdateStrategySpec
	// OverrideWindows lets steps start outside maintenance windows.
	OverrideWindows bool
	Reason, By      string
	MaxSurge        intstr.IntOrString
	DrainTimeout    time.Duration
	// Name of the run; empty is patch-IMAGE.
	Name string
}

// PickImage finds the image of a request in the catalogue.
func PickImage(feed *nodeimages.Feed, image string, cves []string) (nodeimages.Image, error) {
	for _, id := range cves {
		if err := nodeimages.CheckCVE(id); err != nil {
			return nodeimages.Image{}, err
		}
	}
	if image != "" {
		img, err := feed.Require(image)
		if err != nil {
			return img, err
		}
		for _, id := range cves {
			fix, ok := feed.Fixing(id)
			if !ok {
				return img, fmt.Errorf("no image of the catalogue fixes %s: check the CVE, or publish the image that fixes it", id)
			}
			if fix.Released.After(img.Released.Time) {
				return img, fmt.Errorf("node image %s does not fix %s: %s is the first image that does", img.Version, id, fix.Version)
			}
		}
		return img, nil
	}
	if len(cves) == 0 {
		return feed.Latest(), nil
	}
	var pick nodeimages.Image
	for _, id := range cves {
		fix, ok := feed.Fixing(id)
		if !ok {
			return pick, fmt.Errorf("no image of the catalogue fixes %s: check the CVE, or publish the image that fixes it", id)
		}
		if pick.Version == "" || fix.Released.After(pick.Released.Time) {
			pick = fix
		}
	}
	return pick, nil
}

// Build makes the patch run and its compressed strategy; changes says, one
// line each, what the emergency policy changed (for the audit log).
func Build(req Request, img nodeimages.Image, clusters []v1alpha1.Cluster) (run *v1alpha1.UpdateRun, strategy *v1alpha1.UpdateStrategySpec, changes []string) {
	strategy, changes = Compress(req.Strategy, clusters)
	name := req.Name
	if name == "" {
		name = RunName(img.Version)
	}
	run = &v1alpha1.UpdateRun{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion, Kind: "UpdateRun"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha1.UpdateRunSpec{
			Strategy: strategy,
			Upgrade: v1alpha1.UpgradeSpec{
				Type:               v1alpha1.UpgradeNodeImageOnly,
				NodeImageSelection: &v1alpha1.NodeImageSelection{Type: v1alpha1.NodeImageCustom, Image: img.Version},
			},
			Patch: &v1alpha1.PatchSpec{
				NodeImage: img.Version, Released: img.Released, CVEs: req.CVEs,
				OverrideMaintenanceWindows: req.OverrideWindows, Reason: req.Reason, RequestedBy: req.By,
			},
		},
	}
	if req.MaxSurge != (intstr.IntOrString{}) {
		run.Spec.NodeUpgrade.MaxSurge = &req.MaxSurge
	}
	if req.DrainTimeout > 0 {
		run.Spec.NodeUpgrade.DrainTimeout = &metav1.Duration{Duration: req.DrainTimeout}
	}
	return run, strategy, changes
}

var unsafeName = regexp.MustCompile(`[^a-z0-9.-]+`)

// RunName is the run a patch to image gets: one per image, so asking
// twice finds the first run instead of patching twice.
func RunName(image string) string {
	n := "patch-" + strings.Trim(unsafeName.ReplaceAllString(strings.ToLower(image), "-"), "-.")
	return strings.TrimRight(n[:min(len(n), 63)], "-.")
}

// Compress applies a strategy's emergency policy: stages and gates stay;
// TimedWaits after a stage are capped at the policy's afterStageWait; with
// skipApprovals the stages' Approval tasks go. A nil strategy is one stage
// over every cluster.
func Compress(s *v1alpha1.UpdateStrategySpec, clusters []v1alpha1.Cluster) (*v1alpha1.UpdateStrategySpec, []string) {
	if s == nil {
		return &v1alpha1.UpdateStrategySpec{Stages: []v1alpha1.StageSpec{{Name: "all", LabelSelector: &metav1.LabelSelector{}, MaxConcurrency: ptr(intstr.FromString("100%"))}}},
			[]string{fmt.Sprintf("no strategy given: one stage over the %d clusters of the fleet, all at once in each group", len(clusters))}
	}
	out := s.DeepCopy()
	policy := out.Emergency
	if policy == nil {
		return out, []string{"the strategy has no emergency policy: soaks and approvals are kept as they are"}
	}
	var changes []string
	for i := range out.Stages {
		st := &out.Stages[i]
		after := plan.AfterTasks(*st)
		st.AfterStageWaitInSeconds = 0
		st.AfterStageTasks = nil
		for _, t := range after {
			switch {
			case t.Type == v1alpha1.TaskApproval && policy.SkipApprovals:
				changes = append(changes, fmt.Sprintf("stage %s: approval %s after the stage skipped", st.Name, taskName(t)))
				continue
			case t.Type == v1alpha1.TaskTimedWait && policy.AfterStageWait != nil && t.WaitTime != nil && t.WaitTime.Duration > policy.AfterStageWait.Duration:
				changes = append(changes, fmt.Sprintf("stage %s: soak %s shortened from %s to %s", st.Name, taskName(t), t.WaitTime.Duration, policy.AfterStageWait.Duration))
				t.WaitTime = policy.AfterStageWait.DeepCopy()
			}
			st.AfterStageTasks = append(st.AfterStageTasks, t)
		}
		if policy.SkipApprovals {
			before := st.BeforeStageTasks
			st.BeforeStageTasks = nil
			for _, t := range before {
				if t.Type == v1alpha1.TaskApproval {
					changes = append(changes, fmt.Sprintf("stage %s: approval %s before the stage skipped", st.Name, taskName(t)))
					continue
				}
				st.BeforeStageTasks = append(st.BeforeStageTasks, t)
			}
		}
	}
	if len(changes) == 0 {
		changes = []string{"the emergency policy changed nothing: no soak is longer than its afterStageWait and approvals are kept"}
	}
	return out, changes
}

func taskName(t v1alpha1.StageTask) string {
	if t.Name != "" {
		return t.Name
	}
	return t.Type
}

func ptr[T any](v T) *T { return &v }

// Patched is one cluster's time from the image's release to patched.
type Patched struct {
	Cluster string
	Phase   string
	// After is the time from the image's release to the cluster's end;
	// zero while the cluster is not done.
	After time.Duration
}

// Report lists the run's clusters, in the run's order, with their time to
// patched.
func Report(run *v1alpha1.UpdateRun) []Patched {
	if run.Spec.Patch == nil {
		return nil
	}
	released := run.Spec.Patch.Released.Time
	var out []Patched
	for _, st := range run.Status.Stages {
		for _, c := range st.Clusters {
			p := Patched{Cluster: c.Name, Phase: c.Phase}
			if c.Phase == v1alpha1.PhaseCompleted && c.End != nil {
				p.After = c.End.Sub(released)
			}
			out = append(out, p)
		}
	}
	return out
}

// NamedImage judges the image a provider names for a pool (AKS's upgrade
// profile), which is the only one the pool can move to, against the
// patch's image img: the same, or one the catalogue lists as released
// with it or after (which carries its fixes), is fine; one the catalogue
// lists as older is refused, since it lacks the fix; one the catalogue
// does not list goes ahead with a note saying that its fixes are not known.
func NamedImage(feed *nodeimages.Feed, img nodeimages.Image, cves []string, where, named string) (note string, err error) {
	if named == img.Version {
		return "", nil
	}
	got, listed := feed.Find(named)
	switch {
	case !listed:
		what := "the fixes of " + img.Version
		if len(cves) > 0 {
			what = strings.Join(cves, ", ")
		}
		return fmt.Sprintf("%s moves to %s, the only image its provider names for it; the catalogue does not list it, so whether it fixes %s is not known", where, named, what), nil
	case got.Released.Before(&img.Released):
		return "", fmt.Errorf("%s can only move to %s, the image its provider names for it, released before %s: it does not carry the fix yet; wait until the provider names a newer image, or patch without this cluster", where, named, img.Version)
	}
	return fmt.Sprintf("%s moves to %s, the image its provider names for it, released after %s", where, named, img.Version), nil
}
