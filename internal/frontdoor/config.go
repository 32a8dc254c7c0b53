package frontdoor

import (
	"fmt"
	"net"
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
	// TLS serves users over HTTPS with these files (reloaded on SIGHUP).
	TLS *TLSFiles `json:"tls,omitempty"`
	// AdminListen serves the admin API and /metrics, behind the token.
	AdminListen string `json:"adminListen"`
	// AdminTLS serves the admin API over HTTPS. It is required when
	// adminListen is not a loopback address: the token and the switch
	// never cross a network in clear text.
	AdminTLS *TLSFiles `json:"adminTLS,omitempty"`
	// AdminTokenFile holds the admin API's bearer token; it is never logged.
	AdminTokenFile string `json:"adminTokenFile"`
	// MetricsListen, when set, serves /metrics alone without a token, so
	// a Prometheus scraper needs no key that can switch traffic.
	MetricsListen string `json:"metricsListen,omitempty"`
	// PinSecretFile holds the secret a request sends in PinSecretHeader
	// to pin itself to a backend; from loopback the secret is not needed
	// only on a route with pinFromLoopback. Pinning works only on routes
	// with allowPin.
	PinSecretFile string `json:"pinSecretFile,omitempty"`
	// StateFile keeps the routes as the admin API last set them; when it
	// exists at start it takes the place of routes, so a restarted gateway
	// keeps a switch (and never sends users back to a retired cluster).
	StateFile string `json:"stateFile,omitempty"`
	// HealthInterval between active checks (default 1s).
	HealthInterval Duration `json:"healthInterval,omitempty"`
	// Timeouts of the listeners and of the connections to backends.
	Timeouts Timeouts `json:"timeouts,omitempty"`
	Routes   []Route  `json:"routes"`

	// ResetState discards a state file that cannot be read (it is kept
	// beside, renamed *.corrupt-TIME) and starts from routes. Set by
	// `upshift gateway --reset-state`, never by the file.
	ResetState bool `json:"-"`
}

// TLSFiles are a PEM certificate chain and its key.
type TLSFiles struct {
	CertFile string `json:"certFile"`
	KeyFile  string `json:"keyFile"`
}

// Timeouts bound every connection the gateway holds. A zero value takes
// the default named beside it.
type Timeouts struct {
	// ReadHeader: time to read a request's headers (default 10s).
	ReadHeader Duration `json:"readHeader,omitempty"`
	// Read: time to read a whole request, body included (default 60s).
	Read Duration `json:"read,omitempty"`
	// Write: time from the end of the request's headers to the end of the
	// response, backend time included (default 60s).
	Write Duration `json:"write,omitempty"`
	// Idle: how long a client's keep-alive connection may wait for its
	// next request (default 120s).
	Idle Duration `json:"idle,omitempty"`
	// BackendDial: time to connect to a backend (default 2s); a refused or
	// timed-out connection of an idempotent request is retried elsewhere.
	BackendDial Duration `json:"backendDial,omitempty"`
	// BackendResponseHeader: time a backend has to start its answer
	// (default 30s).
	BackendResponseHeader Duration `json:"backendResponseHeader,omitempty"`
	// BackendIdle: how long an unused connection to a backend is kept
	// (default 90s).
	BackendIdle Duration `json:"backendIdle,omitempty"`
}

// Default timeouts, as documented on Timeouts.
var DefaultTimeouts = Timeouts{
	ReadHeader:            Duration{10 * time.Second},
	Read:                  Duration{60 * time.Second},
	Write:                 Duration{60 * time.Second},
	Idle:                  Duration{120 * time.Second},
	BackendDial:           Duration{2 * time.Second},
	BackendResponseHeader: Duration{30 * time.Second},
	BackendIdle:           Duration{90 * time.Second},
}

// withDefaults fills the zero timeouts.
func (t Timeouts) withDefaults() Timeouts {
	for _, f := range []struct{ v, d *Duration }{
		{&t.ReadHeader, &DefaultTimeouts.ReadHeader}, {&t.Read, &DefaultTimeouts.Read},
		{&t.Write, &DefaultTimeouts.Write}, {&t.Idle, &DefaultTimeouts.Idle},
		{&t.BackendDial, &DefaultTimeouts.BackendDial}, {&t.BackendResponseHeader, &DefaultTimeouts.BackendResponseHeader},
		{&t.BackendIdle, &DefaultTimeouts.BackendIdle},
	} {
		if f.v.Duration == 0 {
			*f.v = *f.d
		}
	}
	return t
}

// Route sends one host's traffic to weighted backends (the traffic
// package's route: the admin API and the configuration file agree).
type Route = traffic.Route

// Backend is one cluster's entry point for a route.
type Backend = traffic.Backend

// HeaderRoute sends requests carrying a header value to one backend.
type HeaderRoute = traffic.HeaderRoute

// Duration reads "1s"-style durations from YAML.
type Duration struct{ time.Duration }

// UnmarshalJSON reads a Go duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	if v < 0 {
		return fmt.Errorf("duration %q is negative", s)
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
	return ParseConfig(path, data)
}

// ParseConfig reads a configuration strictly (unknown fields are errors)
// and validates it; name is used in errors.
func ParseConfig(name string, data []byte) (*Config, error) {
	var c Config
	if err := yaml.UnmarshalStrict(data, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &c, c.Validate()
}

// Validate checks a configuration.
func (c *Config) Validate() error {
	if c.Listen == "" || c.AdminListen == "" {
		return fmt.Errorf("listen and adminListen are required")
	}
	for _, f := range []struct {
		name string
		tls  *TLSFiles
	}{{"tls", c.TLS}, {"adminTLS", c.AdminTLS}} {
		if f.tls != nil && (f.tls.CertFile == "" || f.tls.KeyFile == "") {
			return fmt.Errorf("%s needs both certFile and keyFile", f.name)
		}
	}
	if c.AdminTLS == nil && !isLoopback(c.AdminListen) {
		return fmt.Errorf("adminListen %q is not a loopback address: set adminTLS (certFile, keyFile) so the admin token never crosses a network in clear text, or listen on 127.0.0.1", c.AdminListen)
	}
	if c.MetricsListen != "" && (c.MetricsListen == c.Listen || c.MetricsListen == c.AdminListen) {
		return fmt.Errorf("metricsListen %q must differ from listen and adminListen", c.MetricsListen)
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

// isLoopback reports whether a listen address binds loopback only. An
// empty host (":9090") binds every interface.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
