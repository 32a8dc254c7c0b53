package azureemu

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
)

// Operation statuses, as ARM's operation status resource reports them.
const (
	statusInProgress = "InProgress"
	statusSucceeded  = "Succeeded"
	statusFailed     = "Failed"
	statusCanceled   = "Canceled"
)

// operation is a long-running operation on one managed cluster.
type operation struct {
	ID        string
	Status    string
	StartTime time.Time
	EndTime   time.Time
	Err       *armError
	// result is what operationresults answers when it is done: the
	// resource for a pool operation, nothing for a delete.
	result func() any
	// cancel ends the work of an operation an abort request aborted.
	cancel  context.CancelFunc
	aborted bool
}

// Provisioning states of an aborted operation: AKS moves the resource to
// Canceling, then Canceled (the SDK's BeginAbortLatestOperation).
const (
	stateCanceling = "Canceling"
	stateCanceled  = "Canceled"
)

// start runs work as an operation on the cluster m (s.mu held): it sets
// the resource's provisioningState to state, and to Succeeded or Failed
// when work ends. It answers the request with status and body plus ARM's
// long-running-operation headers.
func (s *Server) start(w http.ResponseWriter, r *http.Request, m *managed, state, what string, status int, body func() any, result func() any, work func(ctx context.Context) error) {
	op := s.newOperation(result)
	ctx, cancel := context.WithCancel(s.work)
	op.cancel = cancel
	m.busy = op.ID
	m.mc.Properties.ProvisioningState = to.Ptr(state)
	s.logf("operation %s: %s %s", op.ID, what, *m.mc.Name)
	s.operationHeaders(w, r, op)
	resp := body()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		err := work(ctx)
		cancel()
		s.mu.Lock()
		defer s.mu.Unlock()
		op.EndTime = time.Now().UTC()
		m.busy = ""
		switch {
		case op.aborted:
			op.Status, op.Err = statusCanceled, errorf(http.StatusConflict, "OperationCanceled", "the operation was aborted by a request to abort the latest operation of %s", *m.mc.Name)
			m.mc.Properties.ProvisioningState = to.Ptr(stateCanceled)
		case err == nil:
			op.Status = statusSucceeded
			m.mc.Properties.ProvisioningState = to.Ptr(statusSucceeded)
		case s.work.Err() != nil:
			op.Status, op.Err = statusCanceled, errorf(http.StatusConflict, "OperationCanceled", "the emulator stopped during the operation: %v", err)
			m.mc.Properties.ProvisioningState = to.Ptr(statusFailed)
		default:
			ae, ok := err.(*armError)
			if !ok {
				ae = errorf(http.StatusBadRequest, "OperationFailed", "%s %s failed: %v", what, *m.mc.Name, err)
			}
			op.Status, op.Err = statusFailed, ae
			m.mc.Properties.ProvisioningState = to.Ptr(statusFailed)
		}
		s.logf("operation %s: %s", op.ID, op.Status)
	}()
	writeJSON(w, status, resp)
}

// newOperation registers an operation under way (s.mu held).
func (s *Server) newOperation(result func() any) *operation {
	s.seq++
	op := &operation{ID: fmt.Sprintf("op-%d-%d", time.Now().Unix(), s.seq), Status: statusInProgress, StartTime: time.Now().UTC(), result: result}
	s.ops[op.ID] = op
	return op
}

// operationHeaders are ARM's long-running-operation headers of op.
func (s *Server) operationHeaders(w http.ResponseWriter, r *http.Request, op *operation) {
	base := "http://" + r.Host + "/subscriptions/" + s.Subscription + "/providers/Microsoft.ContainerService/locations/" + Location
	w.Header().Set("Azure-AsyncOperation", base+"/operations/"+op.ID+"?api-version="+APIVersion)
	w.Header().Set("Location", base+"/operationresults/"+op.ID+"?api-version="+APIVersion)
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int(s.RetryAfter/time.Second))))
}

// abort aborts the latest operation of a managed cluster, or of one of
// its pools (pool set), as AKS's abort does: the operation ends Canceled
// and the cluster with it, after passing through Canceling. It answers
// 202 with an operation of its own that ends when the aborted one has,
// or 204 when nothing was under way.
func (s *Server) abort(w http.ResponseWriter, r *http.Request, group, name, pool string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.found(w, r, group, name)
	if !ok {
		return
	}
	if pool != "" && findProfile(m.mc.Properties.AgentPoolProfiles, pool) == nil {
		writeError(w, errorf(http.StatusNotFound, "NotFound", "The agent pool '%s' of managed cluster '%s' was not found.", pool, name))
		return
	}
	target, busy := s.ops[m.busy]
	if !busy {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	target.aborted = true
	target.cancel()
	m.mc.Properties.ProvisioningState = to.Ptr(stateCanceling)
	s.logf("operation %s: abort requested", target.ID)
	op := s.newOperation(nil)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			s.mu.Lock()
			if target.Status != statusInProgress {
				op.Status, op.EndTime = statusSucceeded, time.Now().UTC()
				s.mu.Unlock()
				return
			}
			s.mu.Unlock()
			time.Sleep(50 * time.Millisecond)
		}
	}()
	s.operationHeaders(w, r, op)
	w.WriteHeader(http.StatusAccepted)
}

func (s *Server) operation(w http.ResponseWriter, id string) (*operation, bool) {
	op, ok := s.ops[id]
	if !ok {
		writeError(w, errorf(http.StatusNotFound, "NotFound", "no operation %s", id))
	}
	return op, ok
}

// operationStatus is the Azure-AsyncOperation resource.
func (s *Server) operationStatus(w http.ResponseWriter, _ *http.Request, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	op, ok := s.operation(w, id)
	if !ok {
		return
	}
	body := map[string]any{"id": id, "name": op.ID, "status": op.Status, "startTime": op.StartTime.Format(time.RFC3339)}
	if !op.EndTime.IsZero() {
		body["endTime"] = op.EndTime.Format(time.RFC3339)
	}
	if op.Err != nil {
		body["error"] = op.Err
	}
	if op.Status == statusInProgress {
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(s.RetryAfter/time.Second))))
	}
	writeJSON(w, http.StatusOK, body)
}

// operationResult is the Location resource: 202 while under way, then
// the result (or the operation's error).
func (s *Server) operationResult(w http.ResponseWriter, r *http.Request, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	op, ok := s.operation(w, id)
	if !ok {
		return
	}
	switch {
	case op.Status == statusInProgress:
		w.Header().Set("Location", "http://"+r.Host+r.URL.RequestURI())
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(s.RetryAfter/time.Second))))
		w.WriteHeader(http.StatusAccepted)
	case op.Err != nil:
		writeError(w, op.Err)
	case op.result == nil:
		w.WriteHeader(http.StatusNoContent)
	default:
		writeJSON(w, http.StatusOK, op.result())
	}
}
