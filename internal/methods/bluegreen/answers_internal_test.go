package bluegreen

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/providers/traffic"
)

// router is a traffic provider with routes, recording nothing: what
// greenAnswers asks of it is to be a router.
type router struct{}

func (router) Weights(context.Context, string) (traffic.Weights, error) { return nil, nil }
func (router) Switch(context.Context, string, traffic.Weights) error    { return nil }
func (router) Route(context.Context, string) (traffic.Route, error)     { return traffic.Route{}, nil }
func (router) ApplyRoute(context.Context, traffic.Route) error          { return nil }

// weighted is a provider without routes (DNS, Traffic Manager).
type weighted struct{}

func (weighted) Weights(context.Context, string) (traffic.Weights, error) { return nil, nil }
func (weighted) Switch(context.Context, string, traffic.Weights) error    { return nil }

// TestGreenAnswersBeforeTheSwitch: T3 sends no user to a green that does
// not answer through the front door by its green name; one that answers
// after a few failures (its ingress starting) is switched to once it
// answers three times in a row.
func TestGreenAnswersBeforeTheSwitch(t *testing.T) {
	var failFirst atomic.Int64
	var asked atomic.Int64
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Host != "shop-green.example" {
			http.Error(w, "wrong host "+r.Host, http.StatusNotFound)
			return
		}
		if asked.Add(1) <= failFirst.Load() {
			http.Error(w, "no healthy backend", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer front.Close()
	m := &Move{Traffic: router{}, Spec: v1alpha1.BlueGreenSpec{Traffic: v1alpha1.TrafficSpec{URL: front.URL,
		Hosts: v1alpha1.HostNames{Public: "shop.example", Cluster: "shop.aks.example", Green: "shop-green.example"}}}}

	failFirst.Store(4)
	if err := m.greenAnswers(t.Context()); err != nil || asked.Load() != 7 {
		t.Errorf("a green that answers after 4 failures: %v after %d probes, want it taken after 7", err, asked.Load())
	}

	defer func(d time.Duration) { greenAnswerTimeout = d }(greenAnswerTimeout)
	greenAnswerTimeout = time.Second
	asked.Store(0)
	failFirst.Store(1 << 40)
	start := time.Now()
	err := m.greenAnswers(t.Context())
	if err == nil || !strings.Contains(err.Error(), "green does not answer shop-green.example through the front door") || !strings.Contains(err.Error(), "HTTP 503") ||
		!strings.Contains(err.Error(), "traffic stays on blue") || time.Since(start) > 5*time.Second {
		t.Errorf("a green that never answers: %v after %s", err, time.Since(start))
	}

	// Without a front door URL, or for a provider with no routes (DNS),
	// there is no green name to probe: nothing is asked.
	asked.Store(0)
	for _, mv := range []*Move{{Traffic: router{}, Spec: v1alpha1.BlueGreenSpec{Traffic: v1alpha1.TrafficSpec{Hosts: m.Spec.Traffic.Hosts}}}, {Traffic: weighted{}, Spec: m.Spec}} {
		if err := mv.greenAnswers(t.Context()); err != nil || asked.Load() != 0 {
			t.Errorf("%T, URL %q: %v, %d probes", mv.Traffic, mv.Spec.Traffic.URL, err, asked.Load())
		}
	}
}
