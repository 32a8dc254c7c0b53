package haproxy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/atomicfile"
	"upshift.dev/upshift/internal/filelock"
	"upshift.dev/upshift/internal/providers/traffic"
)

// Provider switches names served by one HAProxy.
type Provider struct {
	api runtimeAPI
	// backends maps a host to its backend where the names differ.
	backends map[string]string
	// configFile, when set, is rewritten after each change.
	configFile string
	// serverOptions are added to each server the provider adds.
	serverOptions []string
	// drainTimeout bounds the wait for a leaving server's connections.
	drainTimeout time.Duration
}

var (
	_ traffic.Provider = (*Provider)(nil)
	_ traffic.Router   = (*Provider)(nil)
	_ traffic.Observer = (*Provider)(nil)
)

// FromSpec builds the provider of a run's traffic spec.
func FromSpec(t v1alpha1.TrafficSpec) (traffic.Provider, error) {
	h := t.HAProxy
	if h == nil || h.RuntimeAPI == "" {
		return nil, fmt.Errorf("spec.blueGreen.traffic.haproxy.runtimeAPI is required with provider haproxy: HAProxy's stats socket at level admin, a unix socket path or host:port")
	}
	p := &Provider{api: runtimeAPI{addr: h.RuntimeAPI}, backends: h.Backends, configFile: h.ConfigFile, serverOptions: strings.Fields(h.ServerOptions), drainTimeout: 30 * time.Second}
	if h.DrainTimeout != nil {
		p.drainTimeout = h.DrainTimeout.Duration
	}
	for _, o := range p.serverOptions {
		if o == "weight" || o == "disabled" || o == "enabled" || o == "ssl" {
			return nil, fmt.Errorf("spec.blueGreen.traffic.haproxy.serverOptions %q: %s is set by upshift, leave it out", h.ServerOptions, o)
		}
	}
	if p.configFile != "" {
		if _, err := os.Stat(p.configFile); err != nil {
			return nil, fmt.Errorf("spec.blueGreen.traffic.haproxy.configFile: %w", err)
		}
	}
	return p, nil
}

func (p *Provider) backend(host string) string {
	if b, ok := p.backends[host]; ok {
		return b
	}
	return strings.ToLower(host)
}

// Observe reads what each server of a route's backend answered, from
// HAProxy's own counters (show stat), so that a canary's Metrics gates
// judge green through HAProxy with no other monitoring. HAProxy counts
// answers by class, not by time: the counters carry no latency, and the
// gates compare error ratios alone (p95 needs a Prometheus gate).
func (p *Provider) Observe(ctx context.Context, route string) (map[string]traffic.BackendStats, error) {
	stats, err := p.api.serverStats(ctx, p.backend(route))
	var nb errNoBackend
	if errors.As(err, &nb) {
		return nil, fmt.Errorf("%w, which serves %s (%w)", nb, route, traffic.ErrNoRoute)
	}
	return stats, err
}

// ErrNoServer is a switch naming a server its backend does not have:
// bad input, which changes nothing.
var ErrNoServer = errors.New("has no server")

// Weights reads a route's weights: each server's share of its backend's
// weight, in percent, counting servers in maintenance or draining as 0.
func (p *Provider) Weights(ctx context.Context, route string) (traffic.Weights, error) {
	servers, err := p.serving(ctx, route)
	if err != nil {
		return nil, err
	}
	return percents(servers), nil
}

// serving reads the servers of a route's backend; a backend without
// servers is traffic.ErrNoRoute.
func (p *Provider) serving(ctx context.Context, route string) ([]server, error) {
	servers, err := p.servers(ctx, route)
	if err == nil && len(servers) == 0 {
		err = fmt.Errorf("backend %s: %w %q", p.backend(route), traffic.ErrNoRoute, route)
	}
	return servers, err
}

func (p *Provider) servers(ctx context.Context, route string) ([]server, error) {
	servers, err := p.api.servers(ctx, p.backend(route))
	var nb errNoBackend
	if errors.As(err, &nb) {
		return nil, fmt.Errorf("%w, which serves %s (%w): declare it in HAProxy's configuration (it may have no servers) and reload", nb, route, traffic.ErrNoRoute)
	}
	return servers, err
}

// percents is each server's share of its backend in percent, counting
// servers in maintenance or draining as 0; weights set by Switch read
// back unchanged.
func percents(servers []server) traffic.Weights {
	var shares []traffic.Share
	for _, s := range servers {
		shares = append(shares, traffic.Share{Name: s.Name, Weight: s.effectiveWeight()})
	}
	return traffic.Percents(shares)
}

// Switch sets the weights of a route's servers; servers the weights do not
// name get 0. Weights are raised before others are lowered, so the
// backend never has none; a lowered server keeps its connections until
// they finish.
func (p *Provider) Switch(ctx context.Context, route string, w traffic.Weights) error {
	if err := w.Validate(); err != nil {
		return err
	}
	return p.change(ctx, route, func(servers []server) error {
		have := map[string]bool{}
		for _, s := range servers {
			have[s.Name] = true
		}
		for name := range w {
			if !have[name] {
				return fmt.Errorf("backend %s %w %s (it has %s): add it to the route first", p.backend(route), ErrNoServer, name, names(servers))
			}
		}
		return p.setWeights(ctx, p.backend(route), servers, w)
	}, w)
}

func names(servers []server) string {
	var out []string
	for _, s := range servers {
		out = append(out, s.Name)
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ")
}

// setWeights raises, then lowers, each server to its weight in w (0 when
// w does not name it), and makes ready a server given weight that was in
// maintenance or draining.
func (p *Provider) setWeights(ctx context.Context, backend string, servers []server, w traffic.Weights) error {
	var raise, lower []server
	for _, s := range servers {
		if w[s.Name] >= s.effectiveWeight() {
			raise = append(raise, s)
		} else {
			lower = append(lower, s)
		}
	}
	for _, s := range append(raise, lower...) {
		want := w[s.Name]
		if s.Weight != want {
			if err := p.api.expect(ctx, fmt.Sprintf("set server %s/%s weight %d", backend, s.Name, want)); err != nil {
				return err
			}
		}
		if want > 0 && !s.takesTraffic() {
			if err := p.api.expect(ctx, fmt.Sprintf("set server %s/%s state ready", backend, s.Name)); err != nil {
				return err
			}
		}
	}
	return nil
}

// Route reads a route: its backend's servers, their addresses and shares.
// A backend without servers is ErrNoRoute.
func (p *Provider) Route(ctx context.Context, host string) (traffic.Route, error) {
	servers, err := p.serving(ctx, host)
	if err != nil {
		return traffic.Route{}, err
	}
	w := percents(servers)
	r := traffic.Route{Host: host}
	for _, s := range servers {
		r.Backends = append(r.Backends, traffic.Backend{Name: s.Name, URL: scheme(s.SSL) + "://" + address(s), Weight: w[s.Name]})
	}
	return r, nil
}

// ApplyRoute makes a backend's servers the route's: new ones are added
// with add server and made ready, moved ones get their new address,
// weights are set as Switch does, and servers the route no longer names
// are put in maintenance once without weight and deleted when their
// connections have finished. Aliases, the upstream Host, health paths,
// affinity and pinning are HAProxy's configuration, not the route's.
func (p *Provider) ApplyRoute(ctx context.Context, r traffic.Route) error {
	if err := r.Validate(); err != nil {
		return err
	}
	backend := p.backend(r.Host)
	want := map[string]server{}
	for _, b := range r.Backends {
		s, err := p.serverOf(ctx, b)
		if err != nil {
			return fmt.Errorf("route %s: backend %s: %w", r.Host, b.Name, err)
		}
		want[b.Name] = s
	}
	return p.change(ctx, r.Host, func(servers []server) error {
		have := map[string]server{}
		for _, s := range servers {
			have[s.Name] = s
		}
		for _, b := range r.Backends {
			s, ok := have[b.Name]
			w := want[b.Name]
			switch {
			case !ok:
				cmd := fmt.Sprintf("add server %s/%s %s weight 0%s", backend, b.Name, address(w), p.options(w))
				if err := p.api.expect(ctx, cmd, "New server registered"); err != nil {
					return err
				}
				if p.checks() {
					if err := p.api.expect(ctx, fmt.Sprintf("enable health %s/%s", backend, b.Name)); err != nil {
						return err
					}
				}
				// Ready at weight 0: health checks run before any
				// request is sent to it.
				if err := p.api.expect(ctx, fmt.Sprintf("set server %s/%s state ready", backend, b.Name)); err != nil {
					return err
				}
				servers = append(servers, server{Name: b.Name, Addr: w.Addr, Port: w.Port, SSL: w.SSL})
			case s.Addr != w.Addr || s.Port != w.Port:
				if s.SSL != w.SSL {
					return fmt.Errorf("server %s/%s speaks %s; route %s gives it %s: change its ssl in HAProxy's configuration", backend, b.Name, scheme(s.SSL), r.Host, b.URL)
				}
				cmd := fmt.Sprintf("set server %s/%s addr %s port %d", backend, b.Name, w.Addr, w.Port)
				if err := p.api.expect(ctx, cmd, "changed from", "no need to change"); err != nil {
					return err
				}
			}
		}
		if err := p.setWeights(ctx, backend, servers, r.Weights()); err != nil {
			return err
		}
		for _, s := range servers {
			if _, keep := want[s.Name]; !keep {
				if err := p.remove(ctx, backend, s.Name); err != nil {
					return err
				}
			}
		}
		return nil
	}, r.Weights())
}

// checks says whether added servers are health-checked.
func (p *Provider) checks() bool {
	for _, o := range p.serverOptions {
		if o == "check" {
			return true
		}
	}
	return false
}

func scheme(ssl bool) string {
	if ssl {
		return "https"
	}
	return "http"
}

// options are what an added server's line carries besides its address and
// weight.
func (p *Provider) options(s server) string {
	var o []string
	if s.SSL {
		o = append(o, "ssl", "verify", "required", "ca-file", "@system-ca")
	}
	o = append(o, p.serverOptions...)
	if len(o) == 0 {
		return ""
	}
	return " " + strings.Join(o, " ")
}

// serverOf turns a backend's URL into a server's address; a name is
// resolved now, since HAProxy's runtime API takes addresses.
func (p *Provider) serverOf(ctx context.Context, b traffic.Backend) (server, error) {
	u, err := url.Parse(b.URL)
	if err != nil {
		return server{}, err
	}
	if u.Path != "" && u.Path != "/" {
		return server{}, fmt.Errorf("url %s: an HAProxy server has no path", b.URL)
	}
	s := server{Name: b.Name, SSL: u.Scheme == "https", Port: 80}
	if s.SSL {
		s.Port = 443
	}
	if port := u.Port(); port != "" {
		s.Port, _ = strconv.Atoi(port)
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); ip != nil {
		s.Addr = ip.String()
		return s, nil
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(ips) == 0 {
		return server{}, fmt.Errorf("resolving %s for HAProxy: %v", host, err)
	}
	s.Addr = ips[0].Unmap().String()
	return s, nil
}

// remove takes a server out of its backend: maintenance first (no new
// requests), then del server once its connections have finished.
func (p *Provider) remove(ctx context.Context, backend, name string) error {
	if err := p.api.expect(ctx, fmt.Sprintf("set server %s/%s state maint", backend, name)); err != nil {
		return err
	}
	deadline := time.Now().Add(p.drainTimeout)
	for {
		err := p.api.expect(ctx, fmt.Sprintf("del server %s/%s", backend, name), "Server deleted")
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server %s/%s is in maintenance without weight but still has connections after %s: %w", backend, name, p.drainTimeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// change runs one change of a route's backend under the provider's lock,
// then writes the backend's servers to the configuration file and checks
// HAProxy applies the weights wanted.
func (p *Provider) change(ctx context.Context, route string, apply func([]server) error, want traffic.Weights) error {
	unlock, err := filelock.LockContext(ctx, p.lockFile())
	if err != nil {
		return err
	}
	defer unlock()
	servers, err := p.servers(ctx, route)
	if err != nil {
		return err
	}
	applyErr := apply(servers)
	// What HAProxy runs now is read once: written to the configuration
	// even after a failed change, so that a reload keeps what users
	// already get, and checked against what was wanted.
	now, err := p.serving(ctx, route)
	if err != nil {
		return errors.Join(applyErr, fmt.Errorf("verifying route %s: %w", route, err))
	}
	if err := p.persist(route, now); err != nil {
		return errors.Join(applyErr, err)
	}
	if applyErr != nil {
		return applyErr
	}
	if got := percents(now); got.String() != want.String() {
		return fmt.Errorf("HAProxy applies %s to %s, not %s", got, route, want)
	}
	return nil
}

// lockFile serializes changes to one HAProxy from this machine: beside
// its configuration file, or in the temporary folder by runtime address.
func (p *Provider) lockFile() string {
	if p.configFile != "" {
		return filepath.Join(filepath.Dir(p.configFile), "."+filepath.Base(p.configFile)+".upshift-lock")
	}
	sum := sha256.Sum256([]byte(p.api.addr))
	return filepath.Join(os.TempDir(), "upshift-haproxy-"+hex.EncodeToString(sum[:6])+".lock")
}

// persist rewrites the route's backend in the configuration file with
// the servers HAProxy now runs.
func (p *Provider) persist(route string, servers []server) error {
	if p.configFile == "" {
		return nil
	}
	data, err := os.ReadFile(p.configFile)
	if err != nil {
		return fmt.Errorf("HAProxy configuration: %w", err)
	}
	out, err := rewriteServers(string(data), map[string][]server{p.backend(route): servers}, func(s server) string {
		line := fmt.Sprintf("server %s %s weight %d%s", s.Name, address(s), s.Weight, p.options(s))
		if s.Admin&adminForcedMaint != 0 {
			line += " disabled"
		}
		return line
	})
	if err != nil {
		return fmt.Errorf("HAProxy configuration %s: %w", p.configFile, err)
	}
	if out == string(data) {
		return nil
	}
	return atomicfile.Write(p.configFile, []byte(out), 0o644)
}
