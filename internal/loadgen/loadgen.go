package loadgen

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// Target is where requests go: a URL, and the Host header to send (a
// route's name when the URL is a front door's address).
type Target struct {
	URL  string
	Host string
	// Header is added to every request (e.g. a gateway's pin header).
	Header http.Header
}

// BackendHeader, when a response carries it, names the cluster that
// served; Stats counts requests by it.
var BackendHeader = "X-Upshift-Served-By"

// Stats sums up requests.
type Stats struct {
	Sent     int            `json:"sent"`
	Failed   int            `json:"failed"`
	ByCode   map[int]int    `json:"byCode"`
	ByServer map[string]int `json:"byServer,omitempty"`
	// Errors holds the first few failures, for the report.
	Errors   []string      `json:"errors,omitempty"`
	P50      time.Duration `json:"p50"`
	P95      time.Duration `json:"p95"`
	Max      time.Duration `json:"max"`
	Duration time.Duration `json:"duration"`

	latencies []time.Duration
}

// ErrorRate is the share of failed requests, 0 to 1.
func (s Stats) ErrorRate() float64 {
	if s.Sent == 0 {
		return 0
	}
	return float64(s.Failed) / float64(s.Sent)
}

// Rate is requests per second.
func (s Stats) Rate() float64 {
	if s.Duration <= 0 {
		return 0
	}
	return float64(s.Sent) / s.Duration.Seconds()
}

func (s Stats) String() string {
	return fmt.Sprintf("%d sent, %d failed (%.2f%%), %.0f req/s, p50 %s, p95 %s", s.Sent, s.Failed, 100*s.ErrorRate(), s.Rate(), s.P50.Round(10*time.Microsecond), s.P95.Round(10*time.Microsecond))
}

// recorder collects results from many workers.
type recorder struct {
	mu    sync.Mutex
	stats Stats
	start time.Time
}

func newRecorder() *recorder {
	return &recorder{stats: Stats{ByCode: map[int]int{}, ByServer: map[string]int{}}, start: time.Now()}
}

func (r *recorder) add(code int, server string, d time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := &r.stats
	s.Sent++
	s.latencies = append(s.latencies, d)
	if server != "" {
		s.ByServer[server]++
	}
	s.ByCode[code]++
	if err != nil || code < 200 || code >= 400 {
		s.Failed++
		if len(s.Errors) < 5 {
			if err != nil {
				s.Errors = append(s.Errors, err.Error())
			} else {
				s.Errors = append(s.Errors, fmt.Sprintf("HTTP %d", code))
			}
		}
	}
}

func (r *recorder) snapshot() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.stats
	s.ByCode = maps.Clone(s.ByCode)
	s.ByServer = maps.Clone(s.ByServer)
	s.Errors = append([]string(nil), s.Errors...)
	s.Duration = time.Since(r.start)
	lat := append([]time.Duration(nil), s.latencies...)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if n := len(lat); n > 0 {
		s.P50, s.P95, s.Max = lat[n*50/100], lat[min(n-1, n*95/100)], lat[n-1]
	}
	s.latencies = nil
	return s
}

// Client sends requests; its transport keeps connections alive as real
// clients do.
func Client() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second}}
}

// Once sends one GET and records it.
func once(ctx context.Context, c *http.Client, t Target, rec *recorder) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.URL, nil)
	if err != nil {
		rec.add(0, "", 0, err)
		return
	}
	if t.Host != "" {
		req.Host = t.Host
	}
	for k, v := range t.Header {
		req.Header[k] = v
	}
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return // stopped, not failed
		}
		rec.add(0, "", time.Since(start), err)
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	rec.add(resp.StatusCode, resp.Header.Get(BackendHeader), time.Since(start), nil)
}

// Burst sends n requests to t with the given concurrency and sums them up.
func Burst(ctx context.Context, t Target, n, concurrency int) Stats {
	if concurrency < 1 {
		concurrency = 1
	}
	c := Client()
	defer c.CloseIdleConnections()
	rec := newRecorder()
	jobs := make(chan struct{})
	var wg sync.WaitGroup
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				once(ctx, c, t, rec)
			}
		}()
	}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		jobs <- struct{}{}
	}
	close(jobs)
	wg.Wait()
	return rec.snapshot()
}

// Stream is load that runs until stopped.
type Stream struct {
	rec    *recorder
	cancel context.CancelFunc
	done   sync.WaitGroup
}

// Start sends requests to t from concurrency clients, each waiting pause
// between its requests, until Stop.
func Start(ctx context.Context, t Target, concurrency int, pause time.Duration) *Stream {
	ctx, cancel := context.WithCancel(ctx)
	s := &Stream{rec: newRecorder(), cancel: cancel}
	c := Client()
	for range max(concurrency, 1) {
		s.done.Add(1)
		go func() {
			defer s.done.Done()
			for ctx.Err() == nil {
				once(ctx, c, t, s.rec)
				if pause > 0 {
					select {
					case <-ctx.Done():
					case <-time.After(pause):
					}
				}
			}
		}()
	}
	return s
}

// Snapshot sums up the requests so far.
func (s *Stream) Snapshot() Stats { return s.rec.snapshot() }

// Stop ends the stream, waits for requests in flight and sums up.
func (s *Stream) Stop() Stats {
	s.cancel()
	s.done.Wait()
	return s.rec.snapshot()
}

// Comparison is the outcome of comparing green's load to blue's.
type Comparison struct {
	Blue      Stats   `json:"blue"`
	Green     Stats   `json:"green"`
	Threshold float64 `json:"thresholdPercent"`
	// Regressions name what got worse beyond the threshold; empty passes.
	Regressions []string `json:"regressions,omitempty"`
	// LatencyOnly says green's only regression is its p95 latency, which
	// one round on a busy machine can show by chance: worth measuring again.
	LatencyOnly bool `json:"latencyOnly,omitempty"`
}

// Compare sends the same bounded load to blue and green at once (the
// requests interleave, so both see the same machine) and reports green's
// regressions beyond thresholdPercent. Latency differences under
// minLatencyDelta are noise, not regressions.
func Compare(ctx context.Context, blue, green Target, n, concurrency int, thresholdPercent float64, minLatencyDelta time.Duration) Comparison {
	var wg sync.WaitGroup
	cmp := Comparison{Threshold: thresholdPercent}
	wg.Add(2)
	go func() { defer wg.Done(); cmp.Blue = Burst(ctx, blue, n, concurrency) }()
	go func() { defer wg.Done(); cmp.Green = Burst(ctx, green, n, concurrency) }()
	wg.Wait()
	t := thresholdPercent / 100
	if cmp.Green.ErrorRate()-cmp.Blue.ErrorRate() > t {
		cmp.Regressions = append(cmp.Regressions, fmt.Sprintf("error rate %.2f%% on green against %.2f%% on blue", 100*cmp.Green.ErrorRate(), 100*cmp.Blue.ErrorRate()))
	}
	if g, b := cmp.Green.P95, cmp.Blue.P95; float64(g) > float64(b)*(1+t) && g-b > minLatencyDelta {
		cmp.Regressions = append(cmp.Regressions, fmt.Sprintf("p95 latency %s on green against %s on blue", g.Round(10*time.Microsecond), b.Round(10*time.Microsecond)))
	}
	latency := len(cmp.Regressions) > 0 && strings.HasPrefix(cmp.Regressions[len(cmp.Regressions)-1], "p95")
	if cmp.Green.Sent == 0 {
		cmp.Regressions = append(cmp.Regressions, "no request reached green")
	}
	cmp.LatencyOnly = latency && len(cmp.Regressions) == 1
	return cmp
}

func (c Comparison) String() string {
	verdict := "no regression"
	if len(c.Regressions) > 0 {
		verdict = "regressed: " + strings.Join(c.Regressions, "; ")
	}
	return fmt.Sprintf("blue %s; green %s; %s (threshold %.0f%%)", c.Blue, c.Green, verdict, c.Threshold)
}
