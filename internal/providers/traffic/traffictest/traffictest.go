package traffictest

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"upshift.dev/upshift/internal/loadgen"
	"upshift.dev/upshift/internal/providers/traffic"
)

// Front is a front door under test. Its route sends everything to the
// backend "blue" and nothing to "green".
type Front struct {
	// Open returns a provider on the front door; each call is another
	// process (a resumed run, a second writer).
	Open func(t *testing.T) traffic.Provider
	// Route is the switched route.
	Route string
	// Split is false for a provider that cannot split traffic (DNS): it
	// must refuse 90/10 and change nothing.
	Split bool
	// URLs of the backends, for a Router's cases: Blue and Green are in
	// the route, Third is not.
	Blue, Green, Third string
}

// Backends starts three HTTP servers answering 200 with their name, also
// in loadgen's backend header, for front doors that check their
// backends' health and for load that counts who answered; it returns
// their URLs.
func Backends(t *testing.T) (blue, green, third string) {
	t.Helper()
	var urls []string
	for _, name := range []string{"blue", "green", "third"} {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set(loadgen.BackendHeader, name)
			fmt.Fprint(w, name)
		}))
		t.Cleanup(s.Close)
		urls = append(urls, s.URL)
	}
	return urls[0], urls[1], urls[2]
}

// Run runs the contract against fronts that setup makes, a fresh one for
// each case.
func Run(t *testing.T, setup func(t *testing.T) Front) {
	t.Run("SwitchesAndReadsBack", func(t *testing.T) { switches(t, setup(t)) })
	t.Run("RefusalsChangeNothing", func(t *testing.T) { refusals(t, setup(t)) })
	t.Run("ResumedByAnotherProcess", func(t *testing.T) { resumed(t, setup(t)) })
	t.Run("ConcurrentWriters", func(t *testing.T) { concurrent(t, setup(t)) })
	t.Run("RoutesEditedWhole", func(t *testing.T) {
		f := setup(t)
		if _, ok := f.Open(t).(traffic.Router); !ok {
			t.Skip("the provider does not edit routes")
		}
		routes(t, f)
	})
}

func weights(blue, green int) traffic.Weights { return traffic.Weights{"blue": blue, "green": green} }

// expect fails unless the route's weights read w.
func expect(t *testing.T, p traffic.Provider, route string, w traffic.Weights, when string) {
	t.Helper()
	got, err := p.Weights(context.Background(), route)
	if err != nil {
		t.Fatalf("%s: reading %s: %v", when, route, err)
	}
	if got.String() != w.String() {
		t.Fatalf("%s: %s reads %s, want %s", when, route, got, w)
	}
}

func switches(t *testing.T, f Front) {
	ctx := t.Context()
	p := f.Open(t)
	expect(t, p, f.Route, weights(100, 0), "before any switch")
	if f.Split {
		if err := p.Switch(ctx, f.Route, weights(90, 10)); err != nil {
			t.Fatalf("switching to 90/10: %v", err)
		}
		expect(t, p, f.Route, weights(90, 10), "after 90/10")
	} else {
		if err := p.Switch(ctx, f.Route, weights(90, 10)); err == nil {
			t.Fatal("a provider that cannot split accepted 90/10")
		}
		expect(t, p, f.Route, weights(100, 0), "after a refused split")
	}
	if err := p.Switch(ctx, f.Route, weights(0, 100)); err != nil {
		t.Fatalf("switching to green: %v", err)
	}
	expect(t, p, f.Route, weights(0, 100), "after the switch to green")
	if err := p.Switch(ctx, f.Route, weights(100, 0)); err != nil {
		t.Fatalf("rolling back to blue: %v", err)
	}
	expect(t, p, f.Route, weights(100, 0), "after the rollback")
}

func refusals(t *testing.T, f Front) {
	ctx := t.Context()
	p := f.Open(t)
	for _, w := range []traffic.Weights{
		{"blue": 60, "green": 50},
		{"blue": 110, "green": -10},
		{"blue": 0, "purple": 100},
		{},
	} {
		if err := p.Switch(ctx, f.Route, w); err == nil {
			t.Errorf("switch to %s was accepted", w)
		}
		expect(t, p, f.Route, weights(100, 0), fmt.Sprintf("after the refused switch to %s", w))
	}
	if err := p.Switch(ctx, "absent.upshift.test", weights(0, 100)); err == nil {
		t.Error("a switch of a route the front door does not have was accepted")
	}
	router, ok := p.(traffic.Router)
	if !ok {
		return
	}
	before, err := router.Route(ctx, f.Route)
	if err != nil {
		t.Fatal(err)
	}
	bad := before
	bad.Backends = []traffic.Backend{{Name: "blue", URL: "ftp://" + f.Blue, Weight: 100}}
	if err := router.ApplyRoute(ctx, bad); err == nil {
		t.Error("a route with an ftp backend was accepted")
	}
	after, err := router.Route(ctx, f.Route)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(after.Backends) != fmt.Sprint(before.Backends) {
		t.Fatalf("a refused route changed %s: %v, was %v", f.Route, after.Backends, before.Backends)
	}
}

func resumed(t *testing.T, f Front) {
	ctx := t.Context()
	first := weights(0, 100)
	if f.Split {
		first = weights(90, 10)
	}
	if err := f.Open(t).Switch(ctx, f.Route, first); err != nil {
		t.Fatal(err)
	}
	// The process that switched is gone; the next reads where it left off
	// and repeats its last switch harmlessly.
	p := f.Open(t)
	expect(t, p, f.Route, first, "read by another process")
	if err := p.Switch(ctx, f.Route, first); err != nil {
		t.Fatalf("repeating the switch to %s: %v", first, err)
	}
	if err := p.Switch(ctx, f.Route, weights(100, 0)); err != nil {
		t.Fatal(err)
	}
	expect(t, f.Open(t), f.Route, weights(100, 0), "after the resumed process's rollback")
}

// concurrent: two writers switch the route back and forth at once. Each
// switch succeeds or says it did not apply; afterwards the route holds
// what one of them set last, never a mix.
func concurrent(t *testing.T, f Front) {
	ctx := t.Context()
	a, b := weights(100, 0), weights(0, 100)
	if f.Split {
		a, b = weights(70, 30), weights(20, 80)
	}
	var wg sync.WaitGroup
	for _, w := range []traffic.Weights{a, b} {
		p := f.Open(t)
		wg.Go(func() {
			for range 10 {
				if err := p.Switch(ctx, f.Route, w); err != nil {
					t.Logf("switch to %s: %v", w, err)
				}
			}
		})
	}
	wg.Wait()
	got, err := f.Open(t).Weights(ctx, f.Route)
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != a.String() && got.String() != b.String() {
		t.Fatalf("after two writers %s reads %s: neither %s nor %s", f.Route, got, a, b)
	}
}

// routes: a Router adds a backend at weight 0 without moving traffic,
// moves it, and takes a backend out.
func routes(t *testing.T, f Front) {
	ctx := t.Context()
	router := f.Open(t).(traffic.Router)
	r, err := router.Route(ctx, f.Route)
	if err != nil {
		t.Fatal(err)
	}
	if b, ok := r.Backend("green"); !ok || b.URL != f.Green {
		t.Fatalf("route %s: green is %+v, want %s", f.Route, r.Backends, f.Green)
	}
	r.Backends = append(r.Backends, traffic.Backend{Name: "third", URL: f.Third, Weight: 0})
	if err := router.ApplyRoute(ctx, r); err != nil {
		t.Fatalf("adding a backend: %v", err)
	}
	expect3 := func(w traffic.Weights, when string) {
		t.Helper()
		got, err := router.Route(ctx, f.Route)
		if err != nil {
			t.Fatal(err)
		}
		if got.Weights().String() != w.String() {
			t.Fatalf("%s: route %s holds %s, want %s", when, f.Route, got.Weights(), w)
		}
		for _, b := range got.Backends {
			want := map[string]string{"blue": f.Blue, "green": f.Green, "third": f.Third}[b.Name]
			if b.URL != want {
				t.Fatalf("%s: backend %s is at %s, want %s", when, b.Name, b.URL, want)
			}
		}
	}
	expect3(traffic.Weights{"blue": 100, "green": 0, "third": 0}, "after adding third at 0")
	r.Backends = []traffic.Backend{{Name: "green", URL: f.Green, Weight: 50}, {Name: "third", URL: f.Third, Weight: 50}}
	if err := router.ApplyRoute(ctx, r); err != nil {
		t.Fatalf("taking blue out: %v", err)
	}
	expect3(traffic.Weights{"green": 50, "third": 50}, "after taking blue out")
	// Green moves to where third is: the route follows its new address.
	r.Backends[0].URL = f.Third
	if err := router.ApplyRoute(ctx, r); err != nil {
		t.Fatalf("moving green: %v", err)
	}
	got, err := router.Route(ctx, f.Route)
	if err != nil {
		t.Fatal(err)
	}
	if g, _ := got.Backend("green"); g.URL != f.Third {
		t.Fatalf("green moved to %s but the route has it at %s", f.Third, g.URL)
	}
}
