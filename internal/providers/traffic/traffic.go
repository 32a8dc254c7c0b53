package traffic

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"upshift.dev/upshift/internal/names"
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

// TTLManager is a provider whose answers are cached (DNS): the TTL is
// lowered ahead of a switch, so clients follow it quickly, and restored
// after.
type TTLManager interface {
	// LowerTTL sets the low TTL and returns how long to wait for caches
	// holding the old one.
	LowerTTL(ctx context.Context, name string) (time.Duration, error)
	RestoreTTL(ctx context.Context, name string) error
}

// Router is a provider whose routes upshift can create and edit: a
// blue-green run adds green as a backend of the switched route before the
// switch, points the dedicated blue and green names at their clusters, and
// removes blue once it is gone.
type Router interface {
	// Route reads a route; ErrNoRoute when the host has none.
	Route(ctx context.Context, host string) (Route, error)
	// ApplyRoute creates or replaces a route whole, weights included.
	ApplyRoute(ctx context.Context, r Route) error
}

// ErrNoRoute is returned for a host without a route.
var ErrNoRoute = errors.New("no route for host")

// Route sends one host's traffic to weighted backends.
type Route struct {
	Host string `json:"host"`
	// Aliases are more hosts served by this route, e.g. the public name
	// that is a CNAME of the switched cluster name.
	Aliases []string `json:"aliases,omitempty"`
	// UpstreamHost is the Host header sent to backends and their health
	// checks (default: the request's Host). The dedicated blue and green
	// names use the public name here, which the clusters' Ingresses serve.
	UpstreamHost string    `json:"upstreamHost,omitempty"`
	Backends     []Backend `json:"backends"`
	// Affinity keeps a client on its backend with a cookie while that
	// backend is healthy and has weight.
	Affinity bool `json:"affinity,omitempty"`
	// AllowPin lets a request choose a healthy backend of this route with
	// the gateway's pin header, whatever its weight (to try green before
	// users reach it). Only requests carrying the pin secret may pin
	// (and those from loopback where PinFromLoopback says so); off by
	// default.
	AllowPin bool `json:"allowPin,omitempty"`
	// PinFromLoopback lets a request from loopback pin without the
	// secret. Unsafe behind a proxy or sidecar on the same host: every
	// request it carries comes from loopback. Off by default.
	PinFromLoopback bool `json:"pinFromLoopback,omitempty"`
	// HeaderRoutes send a request carrying a header with a value to one
	// backend, whatever the weights: header matches the route's owner
	// wrote (a Gateway API route's rules), so no pin secret is asked.
	HeaderRoutes []HeaderRoute `json:"headerRoutes,omitempty"`
}

// HeaderRoute sends requests whose Header equals Value to Backend.
type HeaderRoute struct {
	Header  string `json:"header"`
	Value   string `json:"value"`
	Backend string `json:"backend"`
}

// Backend is one cluster's entry point for a route.
type Backend struct {
	Name   string `json:"name"`
	URL    string `json:"url"`
	Weight int    `json:"weight"`
	// HealthPath is checked with the route's Host (default /).
	HealthPath string `json:"healthPath,omitempty"`
}

// Weights returns the route's weights by backend.
func (r Route) Weights() Weights {
	w := Weights{}
	for _, b := range r.Backends {
		w[b.Name] = b.Weight
	}
	return w
}

// Backend returns the named backend, if the route has it.
func (r Route) Backend(name string) (Backend, bool) {
	for _, b := range r.Backends {
		if b.Name == name {
			return b, true
		}
	}
	return Backend{}, false
}

// Without returns the route's backends other than name.
func (r Route) Without(name string) []Backend {
	var out []Backend
	for _, b := range r.Backends {
		if b.Name != name {
			out = append(out, b)
		}
	}
	return out
}

// Validate checks a route: a host, http(s) backends with distinct names,
// weights that add up to 100.
func (r Route) Validate() error {
	if err := names.Host("route host", r.Host); err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, b := range r.Backends {
		u, err := url.Parse(b.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("route %s: backend %s: url %q must be http(s)://host:port", r.Host, b.Name, b.URL)
		}
		if seen[b.Name] || b.Name == "" {
			return fmt.Errorf("route %s: backend name %q is empty or given twice", r.Host, b.Name)
		}
		seen[b.Name] = true
	}
	if err := r.Weights().Validate(); err != nil {
		return fmt.Errorf("route %s: %w", r.Host, err)
	}
	for _, hr := range r.HeaderRoutes {
		if hr.Header == "" || hr.Value == "" {
			return fmt.Errorf("route %s: a header route needs a header and a value", r.Host)
		}
		if !seen[hr.Backend] {
			return fmt.Errorf("route %s: header %s: %s sends to backend %q, which the route does not have", r.Host, hr.Header, hr.Value, hr.Backend)
		}
	}
	for _, a := range r.Aliases {
		if a == r.Host {
			return fmt.Errorf("route %s: alias %q is the route's own host", r.Host, a)
		}
		if err := names.Host("route alias", a); err != nil {
			return fmt.Errorf("route %s: %w", r.Host, err)
		}
	}
	return nil
}

// Observer is a provider that counts what each backend of a route
// answers (upshift's gateway), so a canary's analysis can compare green
// with blue without any other monitoring.
type Observer interface {
	// Observe returns the route's counters by backend, cumulative since
	// the provider started.
	Observe(ctx context.Context, route string) (map[string]BackendStats, error)
}

// BackendStats are a backend's cumulative counters on one route.
type BackendStats struct {
	// Requests answered, and of those Errors: 5xx, or no answer.
	Requests, Errors float64
	// Latency is the cumulative histogram of answer times.
	Latency []Bucket
}

// Bucket counts the answers that took at most UpperBound seconds.
type Bucket struct {
	UpperBound float64
	Count      float64
}

// Share is one backend's relative weight on a front door whose weights
// need not add up to 100 (HAProxy's server weights, Gateway API's
// backendRef weights).
type Share struct {
	Name   string
	Weight int
}

// Percents turns relative weights into shares in percent that add up to
// 100 (largest remainder, ties to the earlier backend); weights that
// already add up to 100 read back unchanged. All zero gives all zero.
func Percents(shares []Share) Weights {
	w := Weights{}
	sum := 0
	for _, s := range shares {
		sum += max(s.Weight, 0)
	}
	if sum == 0 {
		for _, s := range shares {
			w[s.Name] = 0
		}
		return w
	}
	type rem struct {
		name string
		frac int
	}
	var rems []rem
	given := 0
	for _, s := range shares {
		v := max(s.Weight, 0)
		w[s.Name] = v * 100 / sum
		given += w[s.Name]
		rems = append(rems, rem{s.Name, v * 100 % sum})
	}
	sort.SliceStable(rems, func(i, j int) bool { return rems[i].frac > rems[j].frac })
	for i := 0; given < 100; i++ {
		w[rems[i].name]++
		given++
	}
	return w
}
