package azureemu

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v6"

	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/providers/traffic"
	"upshift.dev/upshift/internal/providers/traffic/azuredns"
	fd "upshift.dev/upshift/internal/providers/traffic/frontdoor"
	tm "upshift.dev/upshift/internal/providers/traffic/trafficmanager"
)

// APIVersion is the one api-version served for managed clusters: the one
// armcontainerservice v6.6.0 speaks. Traffic Manager profiles are served
// at tm.APIVersion.
const APIVersion = "2025-02-01"

// DefaultSubscription is the subscription the emulator serves unless told
// otherwise.
const DefaultSubscription = "00000000-0000-0000-0000-000000000000"

// Location of every emulated resource.
const Location = "local"

// Server is the emulator.
type Server struct {
	// Fleet backs every managed cluster with a local cluster of the same
	// name.
	Fleet *localfleet.Fleet
	// Subscription is the only subscription that exists.
	Subscription string
	// RetryAfter is what long-running operations tell clients to wait
	// between polls.
	RetryAfter time.Duration
	// Log, when set, gets one line per request and per operation.
	Log io.Writer
	// Gateway, when set, serves each Traffic Manager profile's DNS name
	// as a route, standing for the resolvers users go through.
	Gateway traffic.Router
	// Entra, when set, is the identity provider whose access tokens alone
	// ARM takes (workload identity); unset, any bearer token is taken.
	Entra *Entra

	mu sync.Mutex
	// faults are the statuses the next requests fail with (see Fail).
	faults   []int
	clusters map[string]*managed // by lower-case resource group/name
	profiles map[string]*tm.Profile
	// fdProfiles are Front Door profiles by lower-case resource group/name.
	fdProfiles map[string]*fdProfile
	zones      map[string]*zone
	ops        map[string]*operation
	seq        int
	// work is cancelled when the server is closed.
	work   context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// managed is one ManagedCluster.
type managed struct {
	group string
	mc    armcontainerservice.ManagedCluster
	// busy is the operation under way, if any.
	busy string
	// maintenance are its maintenance configurations, by name.
	maintenance map[string]armcontainerservice.MaintenanceConfiguration
	// stopped: `az aks stop` stopped it (powerState Stopped); it takes no
	// upgrade until it is started.
	stopped bool
}

// New returns an emulator over fleet.
func New(fleet *localfleet.Fleet, subscription string) *Server {
	if subscription == "" {
		subscription = DefaultSubscription
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{Fleet: fleet, Subscription: subscription, RetryAfter: time.Second,
		clusters: map[string]*managed{}, profiles: map[string]*tm.Profile{}, fdProfiles: map[string]*fdProfile{}, zones: map[string]*zone{}, ops: map[string]*operation{}, work: ctx, cancel: cancel}
}

// Close stops the operations under way (their resources are left Failed)
// and waits for them.
func (s *Server) Close() {
	s.cancel()
	s.wg.Wait()
}

// CheckLoopback refuses a listen address off loopback: the emulator
// accepts any token.
func CheckLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("listen address %q is not loopback: the Azure emulator accepts any bearer token, so it listens on 127.0.0.1 or ::1 only", addr)
	}
	return nil
}

// armError is ARM's error body.
type armError struct {
	status  int
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *armError) Error() string { return e.Code + ": " + e.Message }

func errorf(status int, code, format string, args ...any) *armError {
	return &armError{status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

func writeError(w http.ResponseWriter, e *armError) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("x-ms-error-code", e.Code)
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": e})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		writeError(w, errorf(http.StatusInternalServerError, "InternalServerError", "%v", err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(data)
}

func (s *Server) logf(format string, args ...any) {
	if s.Log != nil {
		fmt.Fprintf(s.Log, time.Now().UTC().Format("15:04:05")+" "+format+"\n", args...)
	}
}

// Fail makes the next n requests fail with status, whatever they ask:
// 429 with a Retry-After of one second, as ARM throttles a subscription,
// or a 5xx, as when a resource provider is away. Tests use it to show
// what a client does while Azure throttles or is unavailable.
func (s *Server) Fail(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.faults = append(s.faults, status)
	}
}

// fault takes the status the next request fails with, or 0.
func (s *Server) fault() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.faults) == 0 {
		return 0
	}
	status := s.faults[0]
	s.faults = s.faults[1:]
	return status
}

// ServeHTTP routes ARM requests.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.logf("%s %s", r.Method, r.URL.Path)
	if status := s.fault(); status != 0 {
		if status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "1")
			writeError(w, errorf(status, "TooManyRequests", "The request is being throttled as the limit has been reached for operation type - Read_ObservationWindow_00:05:00."))
		} else {
			writeError(w, errorf(status, strings.ReplaceAll(http.StatusText(status), " ", ""), "The service is temporarily unavailable. Please try again later."))
		}
		s.logf("fault: answered %d", status)
		return
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
		writeError(w, errorf(http.StatusUnauthorized, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing or is not a bearer token."))
		return
	}
	if s.Entra != nil {
		if _, ok := s.Entra.Check(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")); !ok {
			w.Header().Set("WWW-Authenticate", `Bearer authorization_uri="https://login.microsoftonline.com/`+s.Entra.Tenant+`", error="invalid_token", error_description="The access token is invalid."`)
			writeError(w, errorf(http.StatusUnauthorized, "InvalidAuthenticationToken", "The access token is invalid."))
			s.logf("refused: a bearer token Entra did not issue")
			return
		}
	}
	seg := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	low := make([]string, len(seg))
	for i, x := range seg {
		low[i] = strings.ToLower(x)
	}
	if len(seg) < 2 || low[0] != "subscriptions" {
		writeError(w, errorf(http.StatusNotFound, "NotFound", "no such resource: %s", r.URL.Path))
		return
	}
	if seg[1] != s.Subscription {
		writeError(w, errorf(http.StatusNotFound, "SubscriptionNotFound", "The subscription '%s' could not be found.", seg[1]))
		return
	}
	seg, low = seg[2:], low[2:]
	want, speaks := APIVersion, "the one armcontainerservice v6.6.0 speaks"
	if len(low) >= 5 && low[2] == "providers" && low[3] == "microsoft.network" {
		want, speaks = tm.APIVersion, "Traffic Manager's"
		if low[4] == "dnszones" {
			want, speaks = azuredns.APIVersion, "Azure DNS's"
		}
	}
	if len(low) >= 4 && low[2] == "providers" && low[3] == "microsoft.cdn" {
		want, speaks = fd.APIVersion, "Front Door's"
	}
	if v := r.URL.Query().Get("api-version"); v != want {
		writeError(w, errorf(http.StatusBadRequest, "InvalidApiVersionParameter", "The api-version '%s' is invalid. The supported version is '%s' (%s).", v, want, speaks))
		return
	}
	switch {
	case len(low) == 5 && low[0] == "providers" && low[1] == "microsoft.containerservice" && low[2] == "locations" && low[4] == "kubernetesversions":
		s.kubernetesVersions(w, r)
	case len(low) == 6 && low[0] == "providers" && low[1] == "microsoft.containerservice" && low[2] == "locations" && low[4] == "operations":
		s.operationStatus(w, r, seg[5])
	case len(low) == 6 && low[0] == "providers" && low[1] == "microsoft.containerservice" && low[2] == "locations" && low[4] == "operationresults":
		s.operationResult(w, r, seg[5])
	case len(low) >= 6 && low[0] == "resourcegroups" && low[2] == "providers" && low[3] == "microsoft.containerservice" && low[4] == "managedclusters":
		s.managedCluster(w, r, seg[1], seg[5], seg[6:], low[6:])
	case len(low) >= 6 && low[0] == "resourcegroups" && low[2] == "providers" && low[3] == "microsoft.network" && low[4] == "trafficmanagerprofiles":
		s.trafficManager(w, r, seg[1], seg[5], seg[6:], low[6:])
	case len(low) >= 6 && low[0] == "resourcegroups" && low[2] == "providers" && low[3] == "microsoft.cdn" && low[4] == "profiles":
		s.frontDoor(w, r, seg[1], seg[5], seg[6:], low[6:])
	case len(low) == 6 && low[0] == "resourcegroups" && low[2] == "providers" && low[3] == "microsoft.cdn" && low[4] == "operationresults":
		s.operationStatus(w, r, seg[5])
	case len(low) >= 6 && low[0] == "resourcegroups" && low[2] == "providers" && low[3] == "microsoft.network" && low[4] == "dnszones":
		s.dnsZone(w, r, seg[1], seg[5], seg[6:])
	default:
		writeError(w, errorf(http.StatusNotFound, "NotFound", "the Azure emulator does not serve %s %s", r.Method, r.URL.Path))
	}
}

func (s *Server) managedCluster(w http.ResponseWriter, r *http.Request, group, name string, rest, low []string) {
	switch {
	case len(rest) == 0:
		switch r.Method {
		case http.MethodGet:
			s.getCluster(w, r, group, name)
		case http.MethodPut:
			s.putCluster(w, r, group, name)
		case http.MethodDelete:
			s.deleteCluster(w, r, group, name)
		default:
			writeError(w, errorf(http.StatusMethodNotAllowed, "MethodNotAllowed", "%s is not allowed on a managed cluster", r.Method))
		}
	case len(rest) == 2 && low[0] == "upgradeprofiles" && low[1] == "default" && r.Method == http.MethodGet:
		s.upgradeProfile(w, r, group, name)
	case len(rest) == 1 && (low[0] == "stop" || low[0] == "start") && r.Method == http.MethodPost:
		s.power(w, r, group, name, low[0] == "stop")
	case len(rest) == 1 && (low[0] == "listclusterusercredential" || low[0] == "listclusteradmincredential") && r.Method == http.MethodPost:
		s.credentials(w, r, group, name)
	case len(rest) == 1 && low[0] == "abort" && r.Method == http.MethodPost:
		s.abort(w, r, group, name, "")
	case len(rest) == 3 && low[0] == "agentpools" && low[2] == "abort" && r.Method == http.MethodPost:
		s.abort(w, r, group, name, rest[1])
	case len(rest) == 1 && low[0] == "maintenanceconfigurations" && r.Method == http.MethodGet:
		s.listMaintenance(w, r, group, name)
	case len(rest) == 2 && low[0] == "maintenanceconfigurations":
		s.maintenance(w, r, group, name, rest[1])
	case len(rest) == 1 && low[0] == "agentpools" && r.Method == http.MethodGet:
		s.listPools(w, r, group, name)
	case len(rest) == 2 && low[0] == "agentpools":
		switch r.Method {
		case http.MethodGet:
			s.getPool(w, r, group, name, rest[1])
		case http.MethodPut:
			s.putPool(w, r, group, name, rest[1])
		default:
			writeError(w, errorf(http.StatusMethodNotAllowed, "MethodNotAllowed", "%s is not allowed on an agent pool here", r.Method))
		}
	case len(rest) == 4 && low[0] == "agentpools" && low[2] == "upgradeprofiles" && low[3] == "default" && r.Method == http.MethodGet:
		s.poolUpgradeProfile(w, r, group, name, rest[1])
	case len(rest) == 3 && low[0] == "agentpools" && low[2] == "upgradenodeimageversion" && r.Method == http.MethodPost:
		s.upgradeNodeImage(w, r, group, name, rest[1])
	default:
		writeError(w, errorf(http.StatusNotFound, "NotFound", "the Azure emulator does not serve %s %s", r.Method, r.URL.Path))
	}
}

func key(group, name string) string { return strings.ToLower(group + "/" + name) }

func notFound(group, name string) *armError {
	return errorf(http.StatusNotFound, "ResourceNotFound", "The Resource 'Microsoft.ContainerService/managedClusters/%s' under resource group '%s' was not found.", name, group)
}

func (s *Server) resourceID(group, name string) string {
	return fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.ContainerService/managedClusters/%s", s.Subscription, group, name)
}
