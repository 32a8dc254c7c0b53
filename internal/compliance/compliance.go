package compliance

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/kubeversion"
	"upshift.dev/upshift/internal/nodeimages"
	"upshift.dev/upshift/internal/window"
)

// SupportedMinors is how many minors below the newest are still
// supported (N-2, as AKS, EKS and GKE support three minors).
const SupportedMinors = 2

// Support statuses.
const (
	Supported   = "Supported"
	Unsupported = "Unsupported"
	Unknown     = "Unknown"
)

// Report is the fleet's compliance.
type Report struct {
	Generated time.Time `json:"generated"`
	// Newest is the newest Kubernetes version the providers offer, and
	// LatestImage the newest node image of the catalogue.
	Newest      string    `json:"newestKubernetesVersion,omitempty"`
	LatestImage string    `json:"latestNodeImage,omitempty"`
	Clusters    []Cluster `json:"clusters"`
	Totals      Totals    `json:"totals"`
}

// Cluster is one cluster's compliance.
type Cluster struct {
	Name  string `json:"name"`
	Group string `json:"group,omitempty"`
	// Error says why the cluster could not be read; nothing else is set.
	Error             string `json:"error,omitempty"`
	KubernetesVersion string `json:"kubernetesVersion,omitempty"`
	Support           string `json:"support"`
	// MinorsBehind the newest minor.
	MinorsBehind int    `json:"minorsBehind"`
	Pools        []Pool `json:"pools,omitempty"`
	// OpenCVEs are fixed by a newer image than one of its pools runs.
	OpenCVEs   []nodeimages.CVE `json:"openCVEs,omitempty"`
	MostSevere string           `json:"mostSevereOpenCVE,omitempty"`
	LastRun    *Run             `json:"lastRun,omitempty"`
	// NextWindow is when its maintenance window next opens (now, when it
	// is open); nil when it has none (any time) or it never opens.
	NextWindow *time.Time `json:"nextWindow,omitempty"`
	WindowOpen bool       `json:"windowOpen,omitempty"`
	HasWindow  bool       `json:"hasWindow,omitempty"`
	// Compliant: a supported version and no Critical or High CVE open,
	// both known.
	Compliant bool `json:"compliant"`
	// Unknown says what cannot be known of the cluster (its pools'
	// images where its provider has no node-image catalogue, its
	// version's support where no provider offers versions). A cluster
	// with anything unknown and nothing found against it is neither
	// compliant nor not: it is not known.
	Unknown []string `json:"unknown,omitempty"`
}

// Verdict is "yes", "no" or "unknown".
func (c Cluster) Verdict() string {
	switch {
	case c.Compliant:
		return "yes"
	case c.NotKnown():
		return "unknown"
	}
	return "no"
}

// NotKnown is a cluster that nothing shows not compliant, but whose
// compliance cannot be known.
func (c Cluster) NotKnown() bool {
	return c.Error == "" && len(c.Unknown) > 0 && c.Support != Unsupported && c.MostSevere != "Critical" && c.MostSevere != "High"
}

// Pool is one node pool's image.
type Pool struct {
	Name  string `json:"name"`
	Image string `json:"nodeImage"`
	// Behind is how many releases of the cluster's catalogue are newer;
	// with no catalogue it cannot be known (ImageKnown false).
	Behind     int  `json:"releasesBehind"`
	ImageKnown bool `json:"imageKnown"`
	// Newest is, where the provider keeps no catalogue but names each
	// pool's newest image (AKS's upgrade profile), that image, and
	// NewestFrom where it was read. The pool is behind when it differs;
	// by how many releases, and which CVEs are open, is not known.
	Newest     string `json:"newestNodeImage,omitempty"`
	NewestFrom string `json:"newestFrom,omitempty"`
}

// BehindNewest says whether the provider names a newer image for the pool
// than the one it runs.
func (p Pool) BehindNewest() bool { return p.Newest != "" && p.Newest != p.Image }

// Run is a cluster's last upgrade run.
type Run struct {
	Name  string     `json:"name"`
	Phase string     `json:"phase"`
	End   *time.Time `json:"end,omitempty"`
}

// Totals are the fleet's.
type Totals struct {
	Clusters  int `json:"clusters"`
	Compliant int `json:"compliant"`
	// NotKnown counts the clusters whose compliance cannot be known.
	NotKnown    int `json:"notKnown"`
	Unsupported int `json:"unsupported"`
	Unreadable  int `json:"unreadable"`
	Pools       int `json:"pools"`
	PoolsBehind int `json:"poolsBehind"`
	// OpenCVEs counts distinct CVEs open anywhere; ClustersCritical the
	// clusters with a Critical CVE open.
	OpenCVEs         int `json:"openCVEs"`
	ClustersCritical int `json:"clustersWithCriticalCVEs"`
}

// Observed is what the providers say about one cluster.
type Observed struct {
	Cluster v1alpha1.Cluster
	// Err is set when it could not be read.
	Err               error
	KubernetesVersion string
	Available         []kubeversion.Version
	Pools             []Pool // Behind is filled in by Build
	// Images is the node-image catalogue of the cluster's provider; nil
	// when it has none, and its pools' images cannot be judged.
	Images *nodeimages.Feed
	// Provider names the cluster's provider, for what cannot be known.
	Provider string
}

// Build makes the report at now from the observed clusters and the runs
// of the store.
func Build(now time.Time, observed []Observed, runs []*v1alpha1.UpdateRun) Report {
	r := Report{Generated: now.UTC()}
	var newest kubeversion.Version
	for _, o := range observed {
		for _, v := range o.Available {
			if v.Compare(newest) > 0 {
				newest = v
			}
		}
	}
	if !newest.IsZero() {
		r.Newest = newest.String()
	}
	for _, o := range observed {
		if o.Images != nil && r.LatestImage == "" {
			r.LatestImage = o.Images.Latest().Version
		}
	}
	open := map[string]bool{}
	for _, o := range observed {
		c := Cluster{Name: o.Cluster.Name, Group: o.Cluster.Spec.Group, Support: Unknown}
		c.LastRun = lastRun(o.Cluster.Name, runs)
		c.HasWindow, c.WindowOpen, c.NextWindow = nextWindow(o.Cluster, now)
		r.Totals.Clusters++
		if o.Err != nil {
			c.Error = o.Err.Error()
			r.Totals.Unreadable++
			r.Clusters = append(r.Clusters, c)
			continue
		}
		c.KubernetesVersion = o.KubernetesVersion
		if newest.IsZero() {
			c.Unknown = append(c.Unknown, "support: no provider offers versions to compare with")
		}
		if v, err := kubeversion.Parse(o.KubernetesVersion); err == nil && !newest.IsZero() {
			c.MinorsBehind = max(0, newest.Minor-v.Minor)
			c.Support = Supported
			if c.MinorsBehind > SupportedMinors {
				c.Support = Unsupported
				r.Totals.Unsupported++
			}
		}
		seen := map[string]bool{}
		if o.Images == nil && len(o.Pools) > 0 {
			what := "node images and CVEs"
			if !slices.ContainsFunc(o.Pools, func(p Pool) bool { return p.Newest == "" }) {
				what = "CVEs" // each pool's newest image is named; its CVEs are in no catalogue
			}
			c.Unknown = append(c.Unknown, fmt.Sprintf("%s: provider %s has no node-image catalogue", what, orUnnamed(o.Provider)))
		}
		for _, p := range o.Pools {
			r.Totals.Pools++
			if images := o.Images; images != nil {
				p.ImageKnown = true
				p.Behind = images.Behind(p.Image)
				for _, cve := range images.Open(p.Image) {
					if !seen[cve.ID] {
						seen[cve.ID] = true
						c.OpenCVEs = append(c.OpenCVEs, cve)
					}
					open[cve.ID] = true
				}
			}
			if p.Behind > 0 || p.BehindNewest() {
				r.Totals.PoolsBehind++
			}
			c.Pools = append(c.Pools, p)
		}
		sort.SliceStable(c.OpenCVEs, func(i, j int) bool {
			return slices.Index(nodeimages.Severities, c.OpenCVEs[i].Severity) < slices.Index(nodeimages.Severities, c.OpenCVEs[j].Severity)
		})
		c.MostSevere = nodeimages.MostSevere(c.OpenCVEs)
		if c.MostSevere == "Critical" {
			r.Totals.ClustersCritical++
		}
		c.Compliant = len(c.Unknown) == 0 && c.Support == Supported && c.MostSevere != "Critical" && c.MostSevere != "High"
		switch {
		case c.Compliant:
			r.Totals.Compliant++
		case c.NotKnown():
			r.Totals.NotKnown++
		}
		r.Clusters = append(r.Clusters, c)
	}
	r.Totals.OpenCVEs = len(open)
	return r
}

func orUnnamed(provider string) string {
	if provider == "" {
		return "(unnamed)"
	}
	return provider
}

// lastRun is the newest run that holds the cluster.
func lastRun(name string, runs []*v1alpha1.UpdateRun) *Run {
	var best *v1alpha1.UpdateRun
	for _, run := range runs {
		if !slices.Contains(run.Status.Clusters, name) || run.Status.Start == nil {
			continue
		}
		if best == nil || run.Status.Start.After(best.Status.Start.Time) {
			best = run
		}
	}
	if best == nil {
		return nil
	}
	out := &Run{Name: best.Name, Phase: best.Status.Phase}
	if best.Status.End != nil {
		end := best.Status.End.UTC()
		out.End = &end
	}
	return out
}

func nextWindow(c v1alpha1.Cluster, now time.Time) (has, open bool, next *time.Time) {
	if c.Spec.MaintenanceWindow == nil {
		return false, false, nil
	}
	w, errs := window.Compile(*c.Spec.MaintenanceWindow, field.NewPath("spec", "maintenanceWindow"))
	if len(errs) > 0 {
		return true, false, nil
	}
	opens, _ := w.Next(now)
	if opens.IsZero() {
		return true, false, nil
	}
	t := opens.UTC()
	return true, !opens.After(now), &t
}
