package compliance

import (
	"embed"
	"fmt"
	"html/template"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteText writes the report as a table with the totals under it.
func WriteText(w io.Writer, r Report) error {
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	fmt.Fprintln(tw, "CLUSTER\tKUBERNETES\tSUPPORT\tNODE IMAGES (BEHIND)\tOPEN CVES\tLAST RUN\tNEXT WINDOW\tCOMPLIANT")
	for _, c := range r.Clusters {
		if c.Error != "" {
			fmt.Fprintf(tw, "%s\t-\t%s\t-\t-\t%s\t%s\tno (unreadable: %s)\n", c.Name, c.Support, lastRunText(c.LastRun), windowText(c), c.Error)
			continue
		}
		var pools []string
		for _, p := range c.Pools {
			pools = append(pools, fmt.Sprintf("%s=%s (%s)", p.Name, p.Image, behindText(p)))
		}
		support := c.Support
		if c.MinorsBehind > 0 {
			support += fmt.Sprintf(" (N-%d)", c.MinorsBehind)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Name, c.KubernetesVersion, support, dash(strings.Join(pools, ", ")), cveText(c), lastRunText(c.LastRun), windowText(c), verdictText(c))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	t := r.Totals
	_, err := fmt.Fprintf(w, "\n%d of %d cluster(s) compliant; %d not known; %d unsupported; %d unreadable; %d of %d pool(s) behind the newest image (%s); %d distinct CVE(s) open; %d cluster(s) with a Critical CVE open (newest Kubernetes %s)\n",
		t.Compliant, t.Clusters, t.NotKnown, t.Unsupported, t.Unreadable, t.PoolsBehind, t.Pools, dash(r.LatestImage), t.OpenCVEs, t.ClustersCritical, dash(r.Newest))
	return err
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// behindText is how many releases a pool's image is behind, or "?"
// where its provider has no catalogue.
func behindText(p Pool) string {
	switch {
	case p.ImageKnown:
	case p.BehindNewest():
		return "behind " + p.Newest + ", per " + p.NewestFrom
	case p.Newest != "":
		return "newest, per " + p.NewestFrom
	default:
		return "?"
	}
	return fmt.Sprint(p.Behind)
}

// verdictText is the COMPLIANT column: yes, no, or unknown and why.
func verdictText(c Cluster) string {
	if v := c.Verdict(); v != "unknown" {
		return v
	}
	return "unknown (" + strings.Join(c.Unknown, "; ") + ")"
}

func cveText(c Cluster) string {
	if len(c.OpenCVEs) == 0 && slices.ContainsFunc(c.Pools, func(p Pool) bool { return !p.ImageKnown }) {
		return "unknown"
	}
	if len(c.OpenCVEs) == 0 {
		return "none"
	}
	return fmt.Sprintf("%d (worst %s)", len(c.OpenCVEs), c.MostSevere)
}

func lastRunText(r *Run) string {
	if r == nil {
		return "never"
	}
	s := r.Name + " " + r.Phase
	if r.End != nil {
		s += " " + r.End.Format("2006-01-02 15:04")
	}
	return s
}

func windowText(c Cluster) string {
	switch {
	case !c.HasWindow:
		return "any time"
	case c.WindowOpen:
		return "open now"
	case c.NextWindow == nil:
		return "never opens"
	}
	return c.NextWindow.Format("2006-01-02 15:04 MST")
}

//go:embed report.html.tmpl
var files embed.FS

var page = template.Must(template.New("report.html.tmpl").Funcs(template.FuncMap{
	"lastRun": lastRunText,
	"window":  windowText,
	"cves":    cveText,
	"behind":  behindText,
	"dash":    dash,
	"lower":   strings.ToLower,
	"time":    func(t time.Time) string { return t.Format(time.RFC3339) },
}).ParseFS(files, "report.html.tmpl"))

// WriteHTML writes the report as one self-contained HTML page: styles
// inline, no script, nothing fetched.
func WriteHTML(w io.Writer, r Report) error { return page.Execute(w, r) }
