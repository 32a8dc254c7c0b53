// Package traffic defines what upshift needs from whatever sends users to
// clusters — a front door, DNS, a cloud traffic manager: read a route's
// weights and set them. A switch is a change of weights, so weighted,
// partial (canary) and complete (blue-green) switching are one operation.
// Abilities only some providers have are separate interfaces the engine
// checks for.
package traffic

import (
	"context"
	"fmt"
	"sort"
	"strings"
)

// Weights maps a backend (a cluster) to its share of a route's traffic,
// in percent; they add up to 100.
type Weights map[string]int

// Validate checks that weights are non-negative and add up to 100.
func (w Weights) Validate() error {
	if len(w) == 0 {
		return fmt.Errorf("no backends in the weights")
	}
	sum := 0
	for name, v := range w {
		if v < 0 || v > 100 {
			return fmt.Errorf("weight of %s is %d: use 0 to 100", name, v)
		}
		sum += v
	}
	if sum != 100 {
		return fmt.Errorf("weights %s add up to %d, not 100", w, sum)
	}
	return nil
}

func (w Weights) String() string {
	var parts []string
	for name, v := range w {
		parts = append(parts, fmt.Sprintf("%s=%d", name, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// Provider moves a route's traffic between backends.
type Provider interface {
	// Weights returns the route's weights as the provider applies them now.
	Weights(ctx context.Context, route string) (Weights, error)
	// Switch sets the route's weights and returns once they apply.
	Switch(ctx context.Context, route string, w Weights) error
}

// HeaderPinner is a provider that lets a request choose its backend with a
// header, for testing green before any user reaches it.
type HeaderPinner interface {
	// PinHeader is the header whose value names the backend.
	PinHeader() string
}
