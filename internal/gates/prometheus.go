package gates

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/gates/gatespec"
)

// Query replaces a query's placeholders with the target's names.
func Query(q string, t Target) string {
	return strings.NewReplacer("{{cluster}}", t.Cluster, "{{blue}}", t.Blue, "{{green}}", t.Green).Replace(q)
}

// prometheus measures the gate's query Count times at its interval and
// fails past its failure or inconclusive limit (Argo Rollouts' rules).
func prometheus(ctx context.Context, g v1alpha1.GateSpec, t Target, interval time.Duration) (Result, error) {
	p := g.Prometheus
	cond, err := gatespec.ParseCondition(p.SuccessCondition)
	if err != nil {
		return Result{}, &Failed{Gate: g.Name, Type: g.Type, Result: Result{Message: "successCondition: " + err.Error()}}
	}
	client, err := api.NewClient(api.Config{Address: p.Address})
	if err != nil {
		return Result{}, &Failed{Gate: g.Name, Type: g.Type, Result: Result{Message: "address: " + err.Error()}}
	}
	prom := promv1.NewAPI(client)
	query := Query(p.Query, t)
	count := max(p.Count, 1)
	var res Result
	failed, inconclusive := 0, 0
	var last string
	for i := range count {
		if i > 0 {
			select {
			case <-ctx.Done():
				return res, ctx.Err()
			case <-time.After(interval):
			}
		}
		res.Attempts++
		v, msg := measure(ctx, prom, query)
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		switch {
		case math.IsNaN(v):
			inconclusive++
			last = "inconclusive: " + msg
		case cond.Holds(v):
			last = fmt.Sprintf("%s = %g (%s)", "result", v, cond)
		default:
			failed++
			last = fmt.Sprintf("result %g does not meet %s", v, cond)
		}
		summary := fmt.Sprintf("measurement %d of %d: %s (failed %d, inconclusive %d)", i+1, count, last, failed, inconclusive)
		res.Message = summary
		if failed > p.FailureLimit || inconclusive > p.InconclusiveLimit {
			res.Message = fmt.Sprintf("%s; limits: failures %d, inconclusive %d; query %s", summary, p.FailureLimit, p.InconclusiveLimit, query)
			return res, &Failed{Gate: g.Name, Type: g.Type, Result: res}
		}
	}
	return res, nil
}

// measure runs the query once: its value, or NaN and why there is none.
func measure(ctx context.Context, prom promv1.API, query string) (float64, string) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	val, _, _, err := prom.Query(ctx, query, time.Now())
	if err != nil {
		return math.NaN(), "querying Prometheus: " + err.Error()
	}
	switch v := val.(type) {
	case *model.Scalar:
		return float64(v.Value), "NaN"
	case model.Vector:
		switch len(v) {
		case 0:
			return math.NaN(), "the query returned no sample (no traffic yet, or a label that matches nothing)"
		case 1:
			return float64(v[0].Value), "NaN"
		}
		return math.NaN(), fmt.Sprintf("the query returned %d series: aggregate it to one (sum, max…)", len(v))
	}
	return math.NaN(), fmt.Sprintf("the query returned a %s: it must return one sample or a scalar", val.Type())
}
