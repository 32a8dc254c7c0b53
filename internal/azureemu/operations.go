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
}

// start runs work as an operation on the cluster m (s.mu held): it sets
// the resource's provisioningState to state, and to Succeeded or Failed
// when work ends. It answers the request with status and body plus ARM's
// long-running-operation headers.
func (s *Server) start(w http.ResponseWriter, r *http.Request, m *managed, state, what string, status int, body func() any, result func() any, work func(ctx context.Context) error) {
	s.seq++
	op := &operation{ID: fmt.Sprintf("op-%d-%d", time.Now().Unix(), s.seq), Status: statusInProgress, StartTime: time.Now().UTC(), result: result}
	s.ops[op.ID] = op
	m.busy = op.ID
	m.mc.Properties.ProvisioningState = to.Ptr(state)
	s.logf("operation %s: %s %s", op.ID, what, *m.mc.Name)
	base := "http://" + r.Host + "/subscriptions/" + s.Subscription + "/providers/Microsoft.ContainerService/locations/" + Location
	w.Header().Set("Azure-AsyncOperation", base+"/operations/"+op.ID+"?api-version="+APIVersion)
	w.Header().Set("Location", base+"/operationresults/"+op.ID+"?api-version="+APIVersion)
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int(s.RetryAfter/time.Second))))
	resp := body()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		err := work(s.work)
		s.mu.Lock()
		defer s.mu.Unlock()
		op.EndTime = time.Now().UTC()
		m.busy = ""
		switch {
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
