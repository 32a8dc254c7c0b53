package readiness

import (
	"k8s.io/apimachinery/pkg/api/resource"

	scanreport "upshift.dev/upshift/internal/scan/report"
)

type reportFinding = scanreport.Finding

func resourceQuantity(s string) *resource.Quantity {
	q := resource.MustParse(s)
	return &q
}
