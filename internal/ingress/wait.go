package ingress

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// WaitServed waits until the ingress at baseURL answers 200 for host with
// at least endpoints ready endpoints: EndpointSlices follow ready pods a
// moment after a Deployment reports them available.
func WaitServed(ctx context.Context, baseURL, host string, endpoints int, timeout time.Duration) (Answer, error) {
	deadline := time.Now().Add(timeout)
	var last Answer
	lastCode := 0
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/", nil)
		if err != nil {
			return last, err
		}
		req.Host = host
		if resp, err := http.DefaultClient.Do(req); err == nil {
			lastCode = resp.StatusCode
			last = Answer{}
			_ = json.NewDecoder(resp.Body).Decode(&last)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && last.ReadyEndpoints >= endpoints {
				return last, nil
			}
		}
		if time.Now().After(deadline) {
			return last, fmt.Errorf("%s did not serve %s with %d ready endpoints within %s (last: %d, %d endpoints)", baseURL, host, endpoints, timeout, lastCode, last.ReadyEndpoints)
		}
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
