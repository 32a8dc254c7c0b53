package drainsim

import (
	"fmt"
	"strings"

	"upshift.dev/upshift/internal/scan/report"
)

// Checks of a replay as scan findings.
const (
	CheckDrainBlocked = "drain-blocked"
	CheckDrainWarning = "drain-costs-users"
)

func init() {
	report.CheckTitles[CheckDrainBlocked] = "A node's drain will not finish: the upgrade stops on it"
	report.CheckTitles[CheckDrainWarning] = "A drain goes through, but a replacement finds no node or a pod is not recreated"
}

// Report is the replays' blockers (errors) and warnings as a scan report,
// for the scan's formats (table, JSON, SARIF, JUnit); a pool that could
// not be replayed is one of its errors.
func Report(replays []Replay) *report.Report {
	r := &report.Report{Scan: "drain-simulation", Sources: []string{}, Findings: []report.Finding{}}
	add := func(rp Replay, f Finding, check, severity string) {
		ns, name, _ := strings.Cut(f.Pod, "/")
		msg := f.Reason
		if f.Confirmed != "" {
			msg += " (the API server refuses it now: " + f.Confirmed + ")"
		}
		r.Findings = append(r.Findings, report.Finding{Check: check, Severity: severity, Kind: "Pod", Namespace: ns, Name: name, Cluster: rp.Cluster,
			Source: fmt.Sprintf("pool %s, batch %d, node %s", rp.Pool, f.Batch, f.Node), Message: msg, Fix: f.Fix})
	}
	for _, rp := range replays {
		r.Sources = append(r.Sources, rp.Cluster+"/"+rp.Pool)
		if rp.Result == nil {
			r.Errors = append(r.Errors, fmt.Sprintf("cluster %s, pool %s: %s", rp.Cluster, rp.Pool, rp.Error))
			continue
		}
		for _, f := range rp.Blockers {
			add(rp, f, CheckDrainBlocked, report.SeverityError)
		}
		for _, f := range rp.Warnings {
			add(rp, f, CheckDrainWarning, report.SeverityWarning)
		}
	}
	r.Finish()
	return r
}
