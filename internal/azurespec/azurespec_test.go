package azurespec_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"

	"upshift.dev/upshift/internal/azurespec"
)

type example struct {
	Contract, Source, Method, Path string
	Request, Answer                json.RawMessage
	Status                         int
	Headers                        map[string]string
}

func examples(t *testing.T) []example {
	t.Helper()
	data, err := os.ReadFile("testdata/examples.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct{ Examples []example }
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	return f.Examples
}

// serve answers one example's answer, as Azure published it.
func serve(ex example) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range ex.Headers {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(ex.Status)
		if len(ex.Answer) > 0 {
			_, _ = w.Write(ex.Answer)
		}
	})
}

func send(t *testing.T, c *azurespec.Checker, method, path, apiVersion string, body []byte) {
	t.Helper()
	req := httptest.NewRequest(method, path+"?api-version="+url.QueryEscape(apiVersion), strings.NewReader(string(body)))
	c.ServeHTTP(httptest.NewRecorder(), req)
}

// TestAzureExamplesKeepTheFacts sends Azure's own official examples
// through the checker: facts that refuse what Azure publishes are wrong.
func TestAzureExamplesKeepTheFacts(t *testing.T) {
	for _, ex := range examples(t) {
		t.Run(ex.Source[strings.LastIndex(ex.Source, "/")+1:], func(t *testing.T) {
			contract, err := azurespec.Load(ex.Contract)
			if err != nil {
				t.Fatal(err)
			}
			c := &azurespec.Checker{Contracts: []*azurespec.Contract{contract}, Next: serve(ex)}
			send(t, c, ex.Method, ex.Path, contract.APIVersion, ex.Request)
			if p := c.Problems(); len(p) > 0 {
				t.Errorf("Azure's example %s breaks the facts:\n%s", ex.Source, strings.Join(p, "\n"))
			}
			if len(c.Seen()) != 1 {
				t.Errorf("the example matched %v, want one operation", c.Seen())
			}
		})
	}
}

// TestCheckerRefusesWhatAzureWouldNot: each change to an example that
// Azure's contract does not allow is found, and said with its place.
func TestCheckerRefusesWhatAzureWouldNot(t *testing.T) {
	byContract := map[string]example{}
	for _, ex := range examples(t) {
		if len(ex.Request) > 0 {
			byContract[ex.Contract] = ex
		}
	}
	for _, tc := range []struct {
		name, contract string
		edit           func(ex *example, apiVersion *string)
		want           string
	}{
		{"wrong api-version", "trafficmanager-2022-04-01", func(_ *example, v *string) { *v = "2018-08-01" }, `request: api-version "2018-08-01", the contract's is 2022-04-01`},
		{"misspelt property", "trafficmanager-2022-04-01", func(ex *example, _ *string) {
			ex.Request = json.RawMessage(strings.Replace(string(ex.Request), `"endpointStatus"`, `"endpointstate"`, 1))
		}, "properties.endpoints[0].properties.endpointstate is no property of EndpointProperties"},
		{"enum", "trafficmanager-2022-04-01", func(ex *example, _ *string) {
			ex.Request = json.RawMessage(strings.Replace(string(ex.Request), `"endpointStatus": "Enabled"`, `"endpointStatus": "Off"`, 1))
		}, `properties.endpoints[0].properties.endpointStatus is "Off", not one of the spec's [Enabled Disabled]`},
		{"weight out of range", "trafficmanager-2022-04-01", func(ex *example, _ *string) {
			ex.Request = json.RawMessage(strings.Replace(string(ex.Request), `"target"`, `"weight": 0, "target"`, 1))
		}, "properties.endpoints[0].properties.weight is 0, out of the spec's range 1 to 1000"},
		{"read-only sent", "trafficmanager-2022-04-01", func(ex *example, _ *string) {
			ex.Request = json.RawMessage(strings.Replace(string(ex.Request), `"ttl": 35`, `"ttl": 35, "fqdn": "x.trafficmanager.net"`, 1))
		}, "properties.dnsConfig.fqdn is read-only in the spec"},
		{"required absent", "trafficmanager-2022-04-01", func(ex *example, _ *string) {
			ex.Request = json.RawMessage(strings.Replace(string(ex.Request), `"location": "global",`, ``, 1))
		}, "request: required location is absent"},
		{"wrong type", "dns-2018-05-01", func(ex *example, _ *string) {
			ex.Request = json.RawMessage(strings.Replace(string(ex.Request), `"TTL": 3600`, `"TTL": "3600"`, 1))
		}, "properties.TTL is a string, the spec's is an integer"},
		{"record type", "dns-2018-05-01", func(ex *example, _ *string) { ex.Path = strings.Replace(ex.Path, "/A/", "/ALIAS/", 1) },
			`path parameter recordType is "ALIAS"`},
		{"status", "dns-2018-05-01", func(ex *example, _ *string) { ex.Status = http.StatusAccepted }, "answer 202: status 202, the spec gives [200 201]"},
		{"error body", "dns-2018-05-01", func(ex *example, _ *string) {
			ex.Status, ex.Answer = http.StatusConflict, json.RawMessage(`{"message": "busy"}`)
		},
			"answer 409: a 409 answer that is not ARM's error body"},
		{"no such operation", "aks-2025-02-01", func(ex *example, _ *string) { ex.Path += "/upgrade" }, "no operation of the published contract"},
		{"an origin's weight 0", "frontdoor-2025-06-01", func(ex *example, _ *string) {
			ex.Request = json.RawMessage(strings.Replace(string(ex.Request), `"enabledState": "Enabled"`, `"enabledState": "Enabled", "weight": 0`, 1))
		}, "properties.weight is 0, out of the spec's range 1 to 1000"},
		{"SDK model", "aks-2025-02-01", func(ex *example, _ *string) {
			ex.Answer = json.RawMessage(strings.Replace(string(ex.Answer), `"maxPods": 110`, `"maxPods": 110, "undrainableNodeBehavior": "Cordon"`, 1))
		}, "properties.undrainableNodeBehavior is no property of the SDK's AgentPool"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ex := byContract[tc.contract]
			contract, err := azurespec.Load(tc.contract)
			if err != nil {
				t.Fatal(err)
			}
			v := contract.APIVersion
			tc.edit(&ex, &v)
			c := &azurespec.Checker{Contracts: []*azurespec.Contract{contract}, Next: serve(ex)}
			send(t, c, ex.Method, ex.Path, v, ex.Request)
			got := strings.Join(c.Problems(), "\n")
			if !strings.Contains(got, tc.want) {
				t.Errorf("problems:\n%s\nwant one saying %q", got, tc.want)
			}
			if !strings.Contains(got, "(facts: Azure/azure-rest-api-specs") {
				t.Errorf("a problem that does not name its facts' source:\n%s", got)
			}
		})
	}
}

// TestAsyncOperationsAreFollowed: the operation URL an answer hands out
// is polled as ARM's asynchronous protocol says, not refused as an
// unknown operation.
func TestAsyncOperationsAreFollowed(t *testing.T) {
	var abort example
	for _, ex := range examples(t) {
		if strings.HasSuffix(ex.Path, "/abort") {
			abort = ex
		}
	}
	status := `{"name": "op", "status": "InProgress"}`
	mux := http.NewServeMux()
	mux.Handle("POST /", serve(abort))
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(status)) })
	all, err := azurespec.All()
	if err != nil {
		t.Fatal(err)
	}
	c := &azurespec.Checker{Contracts: all, Next: mux}
	send(t, c, http.MethodPost, abort.Path, "2025-02-01", nil)
	u, _ := url.Parse(abort.Headers["Azure-AsyncOperation"])
	send(t, c, http.MethodGet, u.Path, "2025-02-01", nil)
	if p := c.Problems(); len(p) > 0 {
		t.Errorf("following the operation: %v", p)
	}
	status = `{"name": "op"}`
	send(t, c, http.MethodGet, u.Path, "2025-02-01", nil)
	if p := c.Problems(); len(p) != 1 || !strings.Contains(p[0], "without its status") {
		t.Errorf("a status resource without status: %v", p)
	}
}
