package testfleet

import (
	"io"
	"net/http"
	"strings"
	"sync"

	"k8s.io/client-go/rest"
)

// Requests counts what the clients of a REST config send: reads (GET),
// dry runs (a query or a body asking dryRun All, such as a dry-run
// eviction), and writes, each named by method and path. What a test of
// a read-only path asserts: reads and dry runs, no writes.
type Requests struct {
	mu      sync.Mutex
	reads   int
	dryRuns int
	writes  []string
}

// Wrap makes the transports of cfg count into r.
func (r *Requests) Wrap(cfg *rest.Config) {
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripper(func(req *http.Request) (*http.Response, error) {
			r.mu.Lock()
			switch {
			case req.Method == http.MethodGet:
				r.reads++
			case req.URL.Query().Get("dryRun") == "All" || strings.Contains(body(req), `"dryRun":["All"]`):
				r.dryRuns++
			default:
				r.writes = append(r.writes, req.Method+" "+req.URL.Path)
			}
			r.mu.Unlock()
			return rt.RoundTrip(req)
		})
	})
}

// Counts are the reads, the dry runs and the writes so far.
func (r *Requests) Counts() (reads, dryRuns int, writes []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reads, r.dryRuns, append([]string(nil), r.writes...)
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// body is a request's body, left for the transport to send.
func body(r *http.Request) string {
	if r.GetBody == nil {
		return ""
	}
	b, err := r.GetBody()
	if err != nil {
		return ""
	}
	defer b.Close()
	data, _ := io.ReadAll(b)
	return string(data)
}
