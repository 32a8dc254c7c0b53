package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/providers/traffic"
)

// Type names this provider in configuration.
const Type = "gateway"

// PinHeader is the gateway's header that pins a request to a backend.
const PinHeader = "X-Upshift-Backend"

// Provider talks to one gateway's admin API.
type Provider struct {
	// AdminURL, e.g. http://127.0.0.1:9090.
	AdminURL string
	// Token is the admin API's bearer token; never logged.
	Token  string
	Client *http.Client
	// StartWait is how long a request refused at connect (a gateway
	// still starting, as right after `upshift gateway … &`) is tried
	// again; nothing was sent, so trying again changes nothing.
	StartWait time.Duration
}

var (
	_ traffic.Provider     = (*Provider)(nil)
	_ traffic.HeaderPinner = (*Provider)(nil)
	_ traffic.Router       = (*Provider)(nil)
	_ traffic.Observer     = (*Provider)(nil)
)

// New returns a provider for the gateway at adminURL.
func New(adminURL, token string) *Provider {
	return &Provider{AdminURL: adminURL, Token: token, Client: &http.Client{Timeout: 10 * time.Second}}
}

// PinHeader names the header that pins a request to a backend.
func (p *Provider) PinHeader() string { return PinHeader }

// Weights reads a route's weights.
func (p *Provider) Weights(ctx context.Context, route string) (traffic.Weights, error) {
	var w traffic.Weights
	if err := p.do(ctx, http.MethodGet, route+"/weights", nil, &w); err != nil {
		return nil, err
	}
	return w, nil
}

// Switch sets a route's weights and checks the gateway reports them.
func (p *Provider) Switch(ctx context.Context, route string, w traffic.Weights) error {
	if err := w.Validate(); err != nil {
		return err
	}
	body, _ := json.Marshal(w)
	if err := p.do(ctx, http.MethodPut, route+"/weights", body, nil); err != nil {
		return err
	}
	got, err := p.Weights(ctx, route)
	if err != nil {
		return fmt.Errorf("verifying the switch of %s: %w", route, err)
	}
	if got.String() != w.String() {
		return fmt.Errorf("gateway applies %s to %s, not %s", got, route, w)
	}
	return nil
}

// Route reads a route whole: backends, their URLs and weights.
func (p *Provider) Route(ctx context.Context, host string) (traffic.Route, error) {
	var r traffic.Route
	err := p.do(ctx, http.MethodGet, host, nil, &r)
	return r, err
}

// ApplyRoute creates or replaces a route and checks the gateway applies
// its weights.
func (p *Provider) ApplyRoute(ctx context.Context, r traffic.Route) error {
	if err := r.Validate(); err != nil {
		return err
	}
	body, _ := json.Marshal(r)
	if err := p.do(ctx, http.MethodPut, r.Host, body, nil); err != nil {
		return err
	}
	got, err := p.Weights(ctx, r.Host)
	if err != nil {
		return fmt.Errorf("verifying route %s: %w", r.Host, err)
	}
	if got.String() != r.Weights().String() {
		return fmt.Errorf("gateway applies %s to %s, not %s", got, r.Host, r.Weights())
	}
	return nil
}

// DeleteRoute removes a route and its aliases from the gateway.
func (p *Provider) DeleteRoute(ctx context.Context, host string) error {
	return p.do(ctx, http.MethodDelete, host, nil, nil)
}

// ErrRefused is an admin request the gateway refused as invalid (400):
// a backend the route does not have, weights that do not add up, an
// alias deleted as a route. Retrying it changes nothing.
var ErrRefused = errors.New("the gateway refused the request")

// Observe reads the gateway's request counters and latency histograms of
// a route, by backend, from its admin /metrics.
func (p *Provider) Observe(ctx context.Context, route string) (map[string]traffic.BackendStats, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.AdminURL+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+p.Token)
	resp, err := p.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("gateway admin API %s: %w", p.AdminURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("gateway admin API %s/metrics: %s", p.AdminURL, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("gateway admin API %s/metrics: %w", p.AdminURL, err)
	}
	out := map[string]traffic.BackendStats{}
	for _, m := range fams["upshift_gateway_requests_total"].GetMetric() {
		l := labels(m)
		if l["host"] != route {
			continue
		}
		st := out[l["backend"]]
		n := m.GetCounter().GetValue()
		st.Requests += n
		if code, _ := strconv.Atoi(l["code"]); code >= 500 || code == 0 {
			st.Errors += n
		}
		out[l["backend"]] = st
	}
	for _, m := range fams["upshift_gateway_request_duration_seconds"].GetMetric() {
		l := labels(m)
		if l["host"] != route {
			continue
		}
		st := out[l["backend"]]
		for _, b := range m.GetHistogram().GetBucket() {
			st.Latency = append(st.Latency, traffic.Bucket{UpperBound: b.GetUpperBound(), Count: float64(b.GetCumulativeCount())})
		}
		out[l["backend"]] = st
	}
	return out, nil
}

func labels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// do calls the admin API on /routes/PATH; path is a host, maybe followed
// by /weights.
func (p *Provider) do(ctx context.Context, method, path string, body []byte, out any) error {
	host, rest, _ := strings.Cut(path, "/")
	route := host
	u := p.AdminURL + "/routes/" + url.PathEscape(host)
	if rest != "" {
		u += "/" + rest
	}
	var resp *http.Response
	for start := time.Now(); ; {
		req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+p.Token)
		req.Header.Set("Content-Type", "application/json")
		resp, err = p.Client.Do(req)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.ECONNREFUSED) || time.Since(start) >= p.StartWait {
			return fmt.Errorf("gateway admin API %s: %w", p.AdminURL, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	switch {
	case resp.StatusCode == http.StatusNotFound && strings.Contains(string(data), "no route"):
		return fmt.Errorf("gateway %s: %w %q", p.AdminURL, traffic.ErrNoRoute, route)
	case resp.StatusCode == http.StatusUnauthorized:
		return fmt.Errorf("gateway admin API %s refused the token: check the gateway's adminTokenFile", p.AdminURL)
	case resp.StatusCode == http.StatusBadRequest:
		return fmt.Errorf("gateway admin API %s %s: %w: %s", method, route, ErrRefused, bytes.TrimSpace(data))
	case resp.StatusCode >= 300:
		return fmt.Errorf("gateway admin API %s %s: %s: %s", method, route, resp.Status, bytes.TrimSpace(data))
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// FromSpec builds the provider of a run's traffic spec, reading the admin
// token from its file.
func FromSpec(t v1alpha1.TrafficSpec) (traffic.Provider, error) {
	if t.Gateway == nil {
		return nil, fmt.Errorf("spec.blueGreen.traffic.gateway is required with provider gateway")
	}
	if t.Gateway.TokenFile == "" && t.Gateway.TokenSecretRef != nil {
		return nil, fmt.Errorf("spec.blueGreen.traffic.gateway.tokenSecretRef is read by a hub: run it on a hub (its --context), or give tokenFile")
	}
	token, err := traffic.ReadSecret(t.Gateway.TokenFile, "spec.blueGreen.traffic.gateway.tokenFile")
	if err != nil {
		return nil, err
	}
	return New(strings.TrimSuffix(t.Gateway.AdminURL, "/"), token), nil
}
