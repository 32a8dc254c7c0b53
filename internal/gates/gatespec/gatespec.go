package gatespec

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"upshift.dev/upshift/api/v1alpha1"
)

// Validator checks the fields one gate type needs (the name, interval,
// timeout and failure threshold every gate has are checked by Validate).
type Validator func(p *field.Path, g *v1alpha1.GateSpec) field.ErrorList

var validators = map[string]Validator{}

// Register makes a gate type known to Validate. gates.Register calls it
// for a type that comes with its runner; registering a type twice is a
// programming error.
func Register(typ string, v Validator) {
	if _, dup := validators[typ]; dup || v == nil {
		panic("gatespec: gate type " + typ + " registered twice, or without a validator")
	}
	validators[typ] = v
}

// Types are the registered gate types, sorted.
func Types() []string { return slices.Sorted(maps.Keys(validators)) }

func none(*field.Path, *v1alpha1.GateSpec) field.ErrorList { return nil }

// The gate types of the API.
func init() {
	Register(v1alpha1.GateTimedWait, func(p *field.Path, g *v1alpha1.GateSpec) field.ErrorList {
		if g.Duration == nil || g.Duration.Duration <= 0 {
			return field.ErrorList{field.Required(p.Child("duration"), "a TimedWait gate needs a positive duration")}
		}
		return nil
	})
	Register(v1alpha1.GateApproval, none)
	Register(v1alpha1.GateKubernetesHealth, none)
	Register(v1alpha1.GateDeprecatedAPIs, none)
	Register(v1alpha1.GateDrainSimulation, none)
	Register(v1alpha1.GateReadiness, func(p *field.Path, g *v1alpha1.GateSpec) field.ErrorList {
		if r := g.Readiness; r != nil {
			switch r.FailOn {
			case "", "error", "warning", "info":
			default:
				return field.ErrorList{field.NotSupported(p.Child("readiness", "failOn"), r.FailOn, []string{"error", "warning", "info"})}
			}
		}
		return nil
	})
	Register(v1alpha1.GateHTTP, func(p *field.Path, g *v1alpha1.GateSpec) field.ErrorList {
		if g.HTTP == nil || g.HTTP.URL == "" {
			return field.ErrorList{field.Required(p.Child("http", "url"), "an HTTP gate needs a URL")}
		}
		return nil
	})
	Register(v1alpha1.GateCommand, func(p *field.Path, g *v1alpha1.GateSpec) field.ErrorList {
		if g.Command == nil || len(g.Command.Command) == 0 {
			return field.ErrorList{field.Required(p.Child("command", "command"), "a Command gate needs a command")}
		}
		return nil
	})
	Register(v1alpha1.GatePrometheus, func(p *field.Path, g *v1alpha1.GateSpec) field.ErrorList {
		return validatePrometheus(p.Child("prometheus"), g.Prometheus)
	})
	Register(v1alpha1.GateMetrics, func(p *field.Path, g *v1alpha1.GateSpec) field.ErrorList {
		return field.ErrorList{field.Invalid(p.Child("type"), g.Type, "a Metrics gate compares green with blue while both serve: use it in spec.canary.analysis")}
	})
}

// Validate checks one gate at path p.
func Validate(p *field.Path, g *v1alpha1.GateSpec) field.ErrorList {
	var errs field.ErrorList
	if g.Name == "" {
		errs = append(errs, field.Required(p.Child("name"), "gates are named in status and reports"))
	}
	if v, ok := validators[g.Type]; ok {
		errs = append(errs, v(p, g)...)
	} else {
		errs = append(errs, field.NotSupported(p.Child("type"), g.Type, Types()))
	}
	for name, d := range map[string]*metav1.Duration{"interval": g.Interval, "timeout": g.Timeout} {
		if d != nil && d.Duration <= 0 {
			errs = append(errs, field.Invalid(p.Child(name), d.Duration.String(), "must be positive"))
		}
	}
	if g.FailureThreshold < 0 {
		errs = append(errs, field.Invalid(p.Child("failureThreshold"), g.FailureThreshold, "must not be negative"))
	}
	return errs
}

// ValidateAnalysis checks a gate of a canary's analysis: any gate, and
// Metrics gates, which only a canary has.
func ValidateAnalysis(p *field.Path, g *v1alpha1.GateSpec) field.ErrorList {
	if g.Type != v1alpha1.GateMetrics {
		return Validate(p, g)
	}
	var errs field.ErrorList
	if g.Name == "" {
		errs = append(errs, field.Required(p.Child("name"), "gates are named in status and reports"))
	}
	if g.Interval != nil && g.Interval.Duration <= 0 {
		errs = append(errs, field.Invalid(p.Child("interval"), g.Interval.Duration.String(), "must be positive"))
	}
	if g.FailureThreshold < 0 {
		errs = append(errs, field.Invalid(p.Child("failureThreshold"), g.FailureThreshold, "must not be negative"))
	}
	if m := g.Metrics; m != nil {
		mp := p.Child("metrics")
		if v := m.MaxErrorRatePercent; v != nil && (*v < 0 || *v > 100) {
			errs = append(errs, field.Invalid(mp.Child("maxErrorRatePercent"), *v, "use 0 to 100"))
		}
		if v := m.MaxP95IncreasePercent; v != nil && *v < 0 {
			errs = append(errs, field.Invalid(mp.Child("maxP95IncreasePercent"), *v, "must not be negative"))
		}
		if d := m.MinLatencyDelta; d != nil && d.Duration < 0 {
			errs = append(errs, field.Invalid(mp.Child("minLatencyDelta"), d.Duration.String(), "must not be negative"))
		}
		if m.MinRequests < 0 {
			errs = append(errs, field.Invalid(mp.Child("minRequests"), m.MinRequests, "must not be negative"))
		}
	}
	return errs
}

func validatePrometheus(p *field.Path, g *v1alpha1.PrometheusGate) field.ErrorList {
	if g == nil {
		return field.ErrorList{field.Required(p, "a Prometheus gate needs address, query and successCondition")}
	}
	var errs field.ErrorList
	if u, err := url.Parse(g.Address); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, field.Invalid(p.Child("address"), g.Address, "the Prometheus server's URL, such as http://127.0.0.1:9090"))
	}
	if strings.TrimSpace(g.Query) == "" {
		errs = append(errs, field.Required(p.Child("query"), "a PromQL query returning one sample"))
	}
	if _, err := ParseCondition(g.SuccessCondition); err != nil {
		errs = append(errs, field.Invalid(p.Child("successCondition"), g.SuccessCondition, err.Error()))
	}
	for name, v := range map[string]int{"count": g.Count, "failureLimit": g.FailureLimit, "inconclusiveLimit": g.InconclusiveLimit} {
		if v < 0 {
			errs = append(errs, field.Invalid(p.Child(name), v, "must not be negative"))
		}
	}
	return errs
}

// Condition is a parsed success condition: result OP number.
type Condition struct {
	Op    string
	Value float64
}

var operators = []string{"<=", ">=", "==", "!=", "<", ">"}

// ParseCondition reads a success condition such as "result < 0.01".
func ParseCondition(s string) (Condition, error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(s), "result")
	if !ok {
		return Condition{}, fmt.Errorf("write result OP NUMBER, such as result < 0.01 (OP one of %s)", strings.Join(operators, " "))
	}
	rest = strings.TrimSpace(rest)
	for _, op := range operators {
		if num, ok := strings.CutPrefix(rest, op); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
			if err != nil {
				return Condition{}, fmt.Errorf("%q is not a number: write result %s NUMBER", strings.TrimSpace(num), op)
			}
			return Condition{Op: op, Value: v}, nil
		}
	}
	return Condition{}, fmt.Errorf("no operator after result: use one of %s", strings.Join(operators, " "))
}

// Holds says whether v meets the condition.
func (c Condition) Holds(v float64) bool {
	switch c.Op {
	case "<":
		return v < c.Value
	case "<=":
		return v <= c.Value
	case ">":
		return v > c.Value
	case ">=":
		return v >= c.Value
	case "==":
		return v == c.Value
	case "!=":
		return v != c.Value
	}
	return false
}

func (c Condition) String() string { return fmt.Sprintf("result %s %g", c.Op, c.Value) }
