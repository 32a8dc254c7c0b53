package azurearm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"upshift.dev/upshift/internal/transient"
)

// EmulatorToken is the bearer token sent to a loopback ARM endpoint (the
// emulator accepts any).
const EmulatorToken = "upshift-local-azure-emulator"

// Loopback says whether an endpoint is on this machine.
func Loopback(u *url.URL) bool {
	host := u.Hostname()
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}

// IsLoopback says whether an ARM endpoint (empty: Azure's public cloud)
// is the local emulator's.
func IsLoopback(endpoint string) bool {
	u, err := url.Parse(endpoint)
	return endpoint != "" && err == nil && Loopback(u)
}

// ValidateEndpoint checks an ARM endpoint given in field: https, or http
// on loopback only (the emulator).
func ValidateEndpoint(field, endpoint string) error {
	if endpoint == "" {
		return nil
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && Loopback(u))) {
		return fmt.Errorf("%s %q: give an https:// address (http:// only on loopback, for `upshift local azure`)", field, endpoint)
	}
	return nil
}

// staticToken is the emulator's credential.
type staticToken struct{}

func (staticToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: EmulatorToken, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// Options points the SDK at a cloud's ARM endpoint (empty: Azure's public
// cloud) and returns the credential to use there: azidentity's
// DefaultAzureCredential chain (environment, workload identity, managed
// identity, Azure CLI…), or on loopback the emulator's static token over
// HTTP unless a workload identity is configured
// (AZURE_FEDERATED_TOKEN_FILE), which then signs in at AZURE_AUTHORITY_HOST
// (the emulator's Entra ID over TLS). The Entra authority is the
// sovereign cloud's for its ARM endpoint, or AZURE_AUTHORITY_HOST.
func Options(endpoint string) (*arm.ClientOptions, azcore.TokenCredential, error) {
	opts := &arm.ClientOptions{}
	opts.Retry = policy.RetryOptions{MaxRetries: 5, RetryDelay: 2 * time.Second, MaxRetryDelay: time.Minute}
	authority := os.Getenv("AZURE_AUTHORITY_HOST")
	opts.Cloud = cloudOf(endpoint, authority)
	if IsLoopback(endpoint) {
		// The local emulator, over HTTP, on loopback only.
		opts.InsecureAllowCredentialWithHTTP = true
		opts.Retry.RetryDelay = 200 * time.Millisecond
		if os.Getenv("AZURE_FEDERATED_TOKEN_FILE") == "" {
			return opts, staticToken{}, nil
		}
	}
	cred, err := azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{
		ClientOptions: opts.ClientOptions,
		// Instance discovery asks login.microsoftonline.com about the
		// authority: not for one on this machine.
		DisableInstanceDiscovery: IsLoopback(authority),
	})
	return opts, cred, err
}

// sovereign are the national clouds by ARM endpoint host.
var sovereign = map[string]cloud.Configuration{
	"management.usgovcloudapi.net": cloud.AzureGovernment,
	"management.chinacloudapi.cn":  cloud.AzureChina,
}

// cloudOf is the cloud configuration of an ARM endpoint: Azure's public
// cloud for none, a national cloud's for its endpoint, else the endpoint
// with the public cloud's audience. authority, when set, is the Entra ID
// host to sign in at.
func cloudOf(endpoint, authority string) cloud.Configuration {
	c := cloud.AzurePublic
	if endpoint != "" {
		u, err := url.Parse(endpoint)
		if known, ok := sovereign[strings.ToLower(u.Hostname())]; err == nil && ok {
			c = known
		} else {
			c = cloud.Configuration{
				ActiveDirectoryAuthorityHost: cloud.AzurePublic.ActiveDirectoryAuthorityHost,
				Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
					cloud.ResourceManager: {Endpoint: strings.TrimSuffix(endpoint, "/"), Audience: cloud.AzurePublic.Services[cloud.ResourceManager].Audience},
				},
			}
		}
	}
	if authority != "" {
		c.ActiveDirectoryAuthorityHost = authority
	}
	return c
}

// credentialsError turns DefaultAzureCredential's report (a line per
// credential it tried, with raw responses) into one line that says what
// to set.
func credentialsError(err error) string {
	var tried []string
	for _, line := range strings.Split(err.Error(), "\n") {
		// Each credential tried is a line indented once: "\tName: why".
		if strings.HasPrefix(line, "\t") && !strings.HasPrefix(line, "\t\t") {
			line = strings.TrimSpace(line)
			if len(line) > 120 {
				line = line[:120] + "…"
			}
			tried = append(tried, line)
		}
	}
	return "no Azure credentials: set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or a federated token), use a workload or managed identity, or run `az login`; DefaultAzureCredential tried: " + strings.Join(tried, "; ")
}

// Error says what Azure said in one line: its error code and message,
// without the raw response the SDK prints. Throttling and server errors
// the SDK's retries did not get past are passing faults. endpointField
// names the setting to check when ARM cannot be reached.
func Error(what, endpointField string, err error) error {
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		if strings.Contains(err.Error(), "DefaultAzureCredential") {
			return transient.MarkPermanent(fmt.Errorf("%s: %s", what, credentialsError(err)))
		}
		var netErr *net.OpError
		if errors.As(err, &netErr) {
			return fmt.Errorf("%s: %w (is %s right? for the emulator, is `upshift local azure` running?)", what, err, endpointField)
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	msg := re.ErrorCode
	if re.RawResponse != nil && re.RawResponse.Body != nil {
		data, _ := io.ReadAll(io.LimitReader(re.RawResponse.Body, 64<<10))
		var body struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if json.Unmarshal(data, &body) == nil && body.Error.Message != "" {
			msg = body.Error.Code + ": " + body.Error.Message
		}
	}
	out := &answerError{msg: fmt.Sprintf("%s: Azure answered %d %s", what, re.StatusCode, msg), cause: re}
	if re.StatusCode == http.StatusTooManyRequests || re.StatusCode >= 500 {
		return transient.Mark(out)
	}
	return transient.MarkPermanent(out)
}

// answerError is Azure's answer in one line, still holding the SDK's
// error for errors.As.
type answerError struct {
	msg   string
	cause *azcore.ResponseError
}

func (e *answerError) Error() string { return e.msg }
func (e *answerError) Unwrap() error { return e.cause }

// NotFound says whether Azure answered that the resource itself does not
// exist (404 ResourceNotFound or NotFound), not its subscription or
// resource group.
func NotFound(err error) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusNotFound && (re.ErrorCode == "ResourceNotFound" || re.ErrorCode == "NotFound")
}
