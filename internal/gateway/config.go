package gateway

import (
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"upshift.dev/upshift/internal/providers/traffic"
)

// Config is the gateway's configuration file.
type Config struct {
	// Listen is the address users reach, e.g. 127.0.0.1:8080.
	Listen string `json:"listen"`
	// AdminListen serves the admin API and /metrics.
	AdminListen string `json:"adminListen"`
	// AdminTokenFile holds the admin API's bearer token; it is never logged.
	AdminTokenFile string `json:"adminTokenFile"`
	// HealthInterval between active checks (default 1s).
	HealthInterval Duration `json:"healthInterval,omitempty"`
	Routes         []Route  `json:"routes"`
}

// Route sends one host's traffic to weighted backends.
type Route struct {
	Host     string    `json:"host"`
	Backends []Backend `json:"backends"`
	// Affinity keeps a client on its backend with a cookie while that
	// backend is healthy and has weight.
	Affinity bool `json:"affinity,omitempty"`
}

// Backend is one cluster's entry point for the route.
type Backend struct {
	Name   string `json:"name"`
	URL    string `json:"url"`
	Weight int    `json:"weight"`
	// HealthPath is checked with the route's Host header (default /).
	HealthPath string `json:"healthPath,omitempty"`
}

// Duration reads "1s"-style durations from YAML.
type Duration struct{ time.Duration }

// UnmarshalJSON reads a Go duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	d.Duration = v
	return nil
}

// MarshalJSON writes a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return []byte(`"` + d.String() + `"`), nil }

// LoadConfig reads a configuration file strictly.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var c Config
	if err := yaml.UnmarshalStrict(data, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &c, c.Validate()
}

// Validate checks a configuration.
func (c *Config) Validate() error {
	if c.Listen == "" || c.AdminListen == "" {
		return fmt.Errorf("listen and adminListen are required")
	}
	if len(c.Routes) == 0 {
		return fmt.Errorf("no routes")
	}
	hosts := map[string]bool{}
	for _, r := range c.Routes {
		if r.Host == "" || hosts[r.Host] {
			return fmt.Errorf("route host %q is empty or given twice", r.Host)
		}
		hosts[r.Host] = true
		w := traffic.Weights{}
		for _, b := range r.Backends {
			u, err := url.Parse(b.URL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return fmt.Errorf("route %s: backend %s: url %q must be http(s)://host:port", r.Host, b.Name, b.URL)
			}
			if _, dup := w[b.Name]; dup || b.Name == "" {
				return fmt.Errorf("route %s: backend name %q is empty or given twice", r.Host, b.Name)
			}
			w[b.Name] = b.Weight
		}
		if err := w.Validate(); err != nil {
			return fmt.Errorf("route %s: %w", r.Host, err)
		}
	}
	return nil
}
