package traffickinds

import (
	"fmt"
	"strings"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/providers/traffic"
	"upshift.dev/upshift/internal/registry"
)

// Factory builds a provider from a run's traffic spec. It reads the
// secrets the spec names from their files; they go nowhere else.
type Factory func(v1alpha1.TrafficSpec) (traffic.Provider, error)

var factories = registry.New[Factory]("traffic provider")

// Register makes a traffic provider kind (spec.traffic.provider)
// available. internal/builtin registers every shipped provider, one
// line each; a second registration of a kind panics.
func Register(kind string, f Factory) { factories.Register(kind, f) }

// New builds the provider a traffic spec names.
func New(spec v1alpha1.TrafficSpec) (traffic.Provider, error) {
	f, ok := factories.Get(spec.Provider)
	if !ok {
		return nil, fmt.Errorf("spec.blueGreen.traffic.provider %q: use one of %s", spec.Provider, strings.Join(factories.Names(), ", "))
	}
	return f(spec)
}
