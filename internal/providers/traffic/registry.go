package traffic

import (
	"fmt"
	"os"
	"strings"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/registry"
)

// Factory builds a provider from a run's traffic spec. It reads the
// secrets the spec names from their files; they go nowhere else.
type Factory func(v1alpha1.TrafficSpec) (Provider, error)

var factories = registry.New[Factory]("traffic provider")

// Register makes a traffic provider kind (spec.traffic.provider)
// available. internal/builtin registers every shipped provider, one
// line each; a second registration of a kind panics.
func Register(kind string, f Factory) { factories.Register(kind, f) }

// New builds the provider a traffic spec names.
func New(spec v1alpha1.TrafficSpec) (Provider, error) {
	f, ok := factories.Get(spec.Provider)
	if !ok {
		return nil, fmt.Errorf("spec.blueGreen.traffic.provider %q: use one of %s", spec.Provider, strings.Join(factories.Names(), ", "))
	}
	return f(spec)
}

// ReadSecret reads a secret from its file (trimmed), naming the field
// that gave the path in any error; never the secret itself.
func ReadSecret(path, field string) (string, error) {
	if path == "" {
		return "", fmt.Errorf("%s is required", field)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", field, err)
	}
	s := strings.TrimSpace(string(data))
	if s == "" {
		return "", fmt.Errorf("%s: %s is empty", field, path)
	}
	return s, nil
}
