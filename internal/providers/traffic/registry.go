package traffic

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"

	"upshift.dev/upshift/api/v1alpha1"
)

// Factory builds a provider from a run's traffic spec. It reads the
// secrets the spec names from their files; they go nowhere else.
type Factory func(v1alpha1.TrafficSpec) (Provider, error)

var (
	registryMu sync.Mutex
	registry   = map[string]Factory{}
)

// Register makes a traffic provider kind (spec.traffic.provider)
// available. internal/builtin registers every shipped provider, one
// line each; a second registration of a kind panics.
func Register(kind string, f Factory) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[kind]; dup {
		panic("traffic provider " + kind + " registered twice")
	}
	registry[kind] = f
}

// New builds the provider a traffic spec names.
func New(spec v1alpha1.TrafficSpec) (Provider, error) {
	registryMu.Lock()
	f, ok := registry[spec.Provider]
	var kinds []string
	for k := range registry {
		kinds = append(kinds, k)
	}
	registryMu.Unlock()
	if !ok {
		slices.Sort(kinds)
		return nil, fmt.Errorf("spec.blueGreen.traffic.provider %q: use one of %s", spec.Provider, strings.Join(kinds, ", "))
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
