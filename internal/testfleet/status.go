package testfleet

import (
	"strings"

	"upshift.dev/upshift/api/v1alpha1"
)

// StatusOf renders a run's clusters and steps, a line each, for a failed
// test's message.
func StatusOf(run *v1alpha1.UpdateRun) string {
	if run == nil {
		return ""
	}
	var b strings.Builder
	for _, st := range run.Status.Stages {
		for _, c := range st.Clusters {
			b.WriteString(c.Name + " " + c.Phase + " " + c.Message + "\n")
			for _, s := range c.Steps {
				b.WriteString("  " + s.Name + " " + s.Phase + " " + s.Message + "\n")
			}
		}
	}
	return b.String()
}
