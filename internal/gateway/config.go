package gateway

import (
	"fmt"
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
	// StateFile keeps the routes as the admin API last set them; when it
	// exists at start it takes the place of routes, so a restarted gateway
	// keeps a switch (and never sends users back to a retired cluster).
	StateFile string `json:"stateFile,omitempty"`
	// HealthInterval between active checks (default 1s).
	HealthInterval Duration `json:"healthInterval,omitempty"`
	Routes         []Route  `json:"routes"`
}

// Route sends one host's traffic to weighted backends (the traffic
// package's route: the admin API and the configuration file agree).
type Route = traffic.Route

// Backend is one cluster's entry point for a route.
type Backend = traffic.Backend

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
	hosts := map[string]bool{}
	for _, r := range c.Routes {
		if err := r.Validate(); err != nil {
			return err
		}
		for _, h := range append([]string{r.Host}, r.Aliases...) {
			if hosts[h] {
				return fmt.Errorf("host %q is served by two routes", h)
			}
			hosts[h] = true
		}
	}
	return nil
}
