package azurearm

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
)

// REST sends requests in ARM's documented REST shapes through azcore's
// pipeline (credential, retries, Retry-After), for resource providers
// whose SDK module the module proxy does not serve.
type REST struct {
	pipeline      runtime.Pipeline
	base          string // the ARM endpoint
	apiVersion    string
	endpointField string // the setting to check when ARM cannot be reached
}

// NewREST opens ARM at endpoint (empty: Azure's public cloud) for one
// api-version; endpointField names the setting that gave the endpoint.
func NewREST(module, endpoint, endpointField, apiVersion string) (*REST, error) {
	opts, cred, err := Options(endpoint)
	if err != nil {
		return nil, err
	}
	client, err := arm.NewClient(module, "v0.1.0", cred, opts)
	if err != nil {
		return nil, err
	}
	return &REST{pipeline: client.Pipeline(), base: strings.TrimSuffix(client.Endpoint(), "/"), apiVersion: apiVersion, endpointField: endpointField}, nil
}

// Call sends one request to path (from /subscriptions/…); out, when not
// nil, gets the answer. Errors are one line (Error) that begins with what.
func (c *REST) Call(ctx context.Context, method, path, what string, body, out any) error {
	resp, err := c.send(ctx, method, path, body, http.StatusOK, http.StatusCreated, http.StatusNoContent)
	if err != nil {
		return Error(what, c.endpointField, err)
	}
	if out != nil && resp.StatusCode != http.StatusNoContent {
		return runtime.UnmarshalAsJSON(resp, out)
	}
	return nil
}

// CallLRO is Call for a long-running operation: an answer of 202, or one
// that names an operation (Azure-AsyncOperation), is followed through
// azcore's poller every poll until the operation ends; out gets the final
// resource.
func (c *REST) CallLRO(ctx context.Context, method, path, what string, body, out any, poll time.Duration) error {
	resp, err := c.send(ctx, method, path, body, http.StatusOK, http.StatusCreated, http.StatusAccepted, http.StatusNoContent)
	if err != nil {
		return Error(what, c.endpointField, err)
	}
	if resp.StatusCode != http.StatusAccepted && resp.Header.Get("Azure-AsyncOperation") == "" {
		if out != nil && resp.StatusCode != http.StatusNoContent {
			return runtime.UnmarshalAsJSON(resp, out)
		}
		return nil
	}
	poller, err := runtime.NewPoller[json.RawMessage](resp, c.pipeline, nil)
	if err != nil {
		return Error(what, c.endpointField, err)
	}
	final, err := poller.PollUntilDone(ctx, &runtime.PollUntilDoneOptions{Frequency: poll})
	if err != nil {
		return Error(what, c.endpointField, err)
	}
	if out != nil && len(final) > 0 {
		return json.Unmarshal(final, out)
	}
	return nil
}

// send sends one request and refuses an answer of another status.
func (c *REST) send(ctx context.Context, method, path string, body any, statuses ...int) (*http.Response, error) {
	req, err := runtime.NewRequest(ctx, method, c.base+path)
	if err != nil {
		return nil, err
	}
	q := req.Raw().URL.Query()
	q.Set("api-version", c.apiVersion)
	req.Raw().URL.RawQuery = q.Encode()
	req.Raw().Header.Set("Accept", "application/json")
	if body != nil {
		if err := runtime.MarshalAsJSON(req, body); err != nil {
			return nil, err
		}
	}
	resp, err := c.pipeline.Do(req)
	if err == nil && !runtime.HasStatusCode(resp, statuses...) {
		err = runtime.NewResponseError(resp)
	}
	return resp, err
}
