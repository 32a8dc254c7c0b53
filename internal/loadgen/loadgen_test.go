package loadgen

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func server(t *testing.T, name string, delay time.Duration, failEvery int64) *httptest.Server {
	var n atomic.Int64
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(delay)
		w.Header().Set(BackendHeader, name+"@"+r.Host)
		if failEvery > 0 && n.Add(1)%failEvery == 0 {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(s.Close)
	return s
}

func TestBurstCountsEveryRequestAndTheHost(t *testing.T) {
	s := server(t, "blue", 0, 4)
	st := Burst(context.Background(), Target{URL: s.URL, Host: "app.example.com"}, 100, 5)
	if st.Sent != 100 || st.Failed != 25 || st.ByCode[500] != 25 || st.ByCode[200] != 75 {
		t.Fatalf("stats %+v: want 100 sent, 25 failed", st)
	}
	if st.ByServer["blue@app.example.com"] != 100 {
		t.Fatalf("the Host header was not sent: %v", st.ByServer)
	}
	if st.P50 <= 0 || st.P95 < st.P50 || st.Max < st.P95 {
		t.Fatalf("percentiles out of order: %+v", st)
	}
}

func TestCompareFindsRegressions(t *testing.T) {
	ctx := context.Background()
	blue := server(t, "blue", 2*time.Millisecond, 0)
	same := server(t, "green", 2*time.Millisecond, 0)
	slow := server(t, "green", 40*time.Millisecond, 0)
	failing := server(t, "green", 2*time.Millisecond, 5)

	if c := Compare(ctx, Target{URL: blue.URL}, Target{URL: same.URL}, 60, 4, 5, 10*time.Millisecond); len(c.Regressions) != 0 {
		t.Fatalf("equal backends regressed: %s", c)
	}
	c := Compare(ctx, Target{URL: blue.URL}, Target{URL: slow.URL}, 60, 4, 5, 10*time.Millisecond)
	if len(c.Regressions) != 1 || !strings.Contains(c.Regressions[0], "p95 latency") || !c.LatencyOnly {
		t.Fatalf("slow green not caught as a latency-only regression: %s (latencyOnly %v)", c, c.LatencyOnly)
	}
	c = Compare(ctx, Target{URL: blue.URL}, Target{URL: failing.URL}, 60, 4, 5, 10*time.Millisecond)
	if len(c.Regressions) != 1 || !strings.Contains(c.Regressions[0], "error rate 20.00%") || c.LatencyOnly {
		t.Fatalf("failing green not caught: %s (latencyOnly %v)", c, c.LatencyOnly)
	}
}

func TestStreamRunsUntilStopped(t *testing.T) {
	s := server(t, "blue", 0, 0)
	st := Start(context.Background(), Target{URL: s.URL}, 3, time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	mid := st.Snapshot()
	final := st.Stop()
	if mid.Sent == 0 || final.Sent < mid.Sent || final.Failed != 0 {
		t.Fatalf("mid %+v final %+v", mid, final)
	}
	time.Sleep(20 * time.Millisecond)
	if again := st.Snapshot(); again.Sent != final.Sent {
		t.Fatalf("requests after Stop: %d then %d", final.Sent, again.Sent)
	}
}
