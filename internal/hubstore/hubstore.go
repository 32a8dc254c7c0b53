package hubstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/names"
	"upshift.dev/upshift/internal/store"
)

// Label and annotation keys of the objects a run owns.
const (
	LabelRun        = "upshift.dev/run"
	AnnotationSkips = "upshift.dev/skips"
	// AnnotationResume asks the hub to drive an ended run again: a new
	// value each time; status.resumeObserved is the last one taken up.
	AnnotationResume = "upshift.dev/resume-requested"
)

// ResumePending says someone asked an ended run to go on and no hub has
// taken the request up yet.
func ResumePending(run *v1alpha1.UpdateRun) bool {
	req := run.Annotations[AnnotationResume]
	return req != "" && req != run.Status.ResumeObserved && run.Status.Phase != v1alpha1.PhaseCompleted
}

// Scheme knows upshift's objects and the core ones the store uses.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = v1alpha1.AddToScheme(s)
	return s
}

// Store keeps runs in one namespace of a hub.
type Store struct {
	Client    client.Client
	Namespace string
	// Identity names this driver in run leases (default: hostname/pid).
	Identity string
	// LeaseDuration is how long a run's lease outlives its last renewal
	// (default 15s); it is renewed every third of it.
	LeaseDuration time.Duration
	// Timeout bounds each API call (default 30s).
	Timeout time.Duration
	// Cache, when set, answers the driver's polls for stops and skips (a
	// controller's watch cache of UpdateRuns); nil reads the API server.
	Cache client.Reader
	// Scrub, when set, rewrites every message and output bound for a
	// run's status or audit trail (the hub takes the secrets it read out).
	Scrub func(string) string

	// versions holds the resourceVersion of each run's last status write
	// from here, so the next one is a single PUT (a conflict reads again).
	versions sync.Map
	// audits holds each run's audit log as this process writes it.
	audits sync.Map
	// held holds the runs' leases this process holds (*held), observed
	// the records of the leases others hold (observation).
	held, observed sync.Map
	// members holds what this process knows of each run's UpdateRunMembers
	// (*members).
	members sync.Map
}

var _ store.Runs = (*Store)(nil)

func (s *Store) ctx() (context.Context, context.CancelFunc) {
	d := s.Timeout
	if d == 0 {
		d = 30 * time.Second
	}
	return context.WithTimeout(context.Background(), d)
}

func (s *Store) key(name string) client.ObjectKey {
	return client.ObjectKey{Namespace: s.Namespace, Name: name}
}

func (s *Store) get(ctx context.Context, name string) (*v1alpha1.UpdateRun, error) {
	return s.getFrom(ctx, s.Client, name)
}

func (s *Store) getFrom(ctx context.Context, r client.Reader, name string) (*v1alpha1.UpdateRun, error) {
	if err := names.Subdomain("run", name); err != nil {
		return nil, err
	}
	run := &v1alpha1.UpdateRun{}
	if err := r.Get(ctx, s.key(name), run); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("%w: %s (namespace %s)", store.ErrNotFound, name, s.Namespace)
		}
		return nil, err
	}
	run.APIVersion, run.Kind = v1alpha1.GroupVersion, "UpdateRun"
	return run, nil
}

// Create stores a new run; a run of the same name must not exist, unless
// it was applied to the hub and never initialized.
func (s *Store) Create(run *v1alpha1.UpdateRun) error {
	if err := names.Subdomain("run", run.Name); err != nil {
		return err
	}
	ctx, cancel := s.ctx()
	defer cancel()
	// A run applied to the hub (kubectl apply) that no driver has
	// initialized yet is the one being created: adopt it. Looking first
	// lets the hub, which only initializes applied runs, do without the
	// right to create them.
	s.forget(run.Name)
	cur, err := s.get(ctx, run.Name)
	if errors.Is(err, store.ErrNotFound) {
		obj := run.DeepCopy()
		obj.Namespace, obj.ResourceVersion, obj.Status = s.Namespace, "", v1alpha1.UpdateRunStatus{}
		err = s.Client.Create(ctx, obj)
		if !apierrors.IsAlreadyExists(err) {
			return err
		}
		cur, err = s.get(ctx, run.Name)
	}
	if err == nil {
		if len(cur.Status.Stages) == 0 && cur.Status.Phase == "" {
			return s.update(run.Name, false, func(cur *v1alpha1.UpdateRun) {
				cur.Spec = *run.Spec.DeepCopy()
				for k, v := range run.Annotations {
					if cur.Annotations == nil {
						cur.Annotations = map[string]string{}
					}
					cur.Annotations[k] = v
				}
			})
		}
		return store.ExistsError(run.Name)
	}
	return err
}

// Get reads a run with its status, each stage's clusters read back from
// their UpdateRunMembers.
func (s *Store) Get(name string) (*v1alpha1.UpdateRun, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	run, err := s.get(ctx, name)
	if err != nil {
		return nil, err
	}
	return run, s.withMembers(ctx, s.Client, true, run)
}

// List reads every run of the namespace with its members, oldest first.
func (s *Store) List() ([]*v1alpha1.UpdateRun, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	runs, err := s.listFrom(ctx, s.Client)
	if err != nil {
		return nil, err
	}
	return runs, s.withMembers(ctx, s.Client, true, runs...)
}

func (s *Store) listFrom(ctx context.Context, r client.Reader) ([]*v1alpha1.UpdateRun, error) {
	var list v1alpha1.UpdateRunList
	if err := r.List(ctx, &list, client.InNamespace(s.Namespace)); err != nil {
		return nil, err
	}
	out := make([]*v1alpha1.UpdateRun, len(list.Items))
	for i := range list.Items {
		out[i] = &list.Items[i]
		out[i].APIVersion, out[i].Kind = v1alpha1.GroupVersion, "UpdateRun"
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].Status.Start, out[j].Status.Start
		if a == nil || b == nil {
			return out[i].Name < out[j].Name
		}
		return a.Before(b)
	})
	return out, nil
}

// CachedReads is a Store whose Get and List read a watch cache (the hub's
// own informers) rather than the API server: what the dashboard polls,
// so that open pages cost the API server nothing. Before the cache has
// started they read the API server; writes go to it always.
type CachedReads struct {
	*Store
	Cache client.Reader
}

// Get reads a run from the cache.
func (c CachedReads) Get(name string) (*v1alpha1.UpdateRun, error) {
	ctx, cancel := c.ctx()
	defer cancel()
	run, err := c.getFrom(ctx, c.Cache, name)
	if err == nil {
		err = c.withMembers(ctx, c.Cache, false, run)
	}
	if errors.As(err, new(*cache.ErrCacheNotStarted)) {
		return c.Store.Get(name)
	}
	return run, err
}

// List reads the runs from the cache.
func (c CachedReads) List() ([]*v1alpha1.UpdateRun, error) {
	ctx, cancel := c.ctx()
	defer cancel()
	runs, err := c.listFrom(ctx, c.Cache)
	if err == nil {
		err = c.withMembers(ctx, c.Cache, false, runs...)
	}
	if errors.As(err, new(*cache.ErrCacheNotStarted)) {
		return c.Store.List()
	}
	return runs, err
}

// update reads a run, changes it and writes it (its status alone when
// status), again on a conflict; written, when given, receives the
// resourceVersion written.
func (s *Store) update(name string, status bool, change func(*v1alpha1.UpdateRun), written ...*string) error {
	ctx, cancel := s.ctx()
	defer cancel()
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		run, err := s.get(ctx, name)
		if err != nil {
			return err
		}
		change(run)
		owner := client.FieldOwner(s.fieldOwner())
		if status {
			if err := s.fenced(name); err != nil {
				return err
			}
			err = s.Client.Status().Update(ctx, run, owner)
		} else {
			err = s.Client.Update(ctx, run, owner)
		}
		if err == nil {
			for _, w := range written {
				*w = run.ResourceVersion
			}
		}
		return err
	})
}

// SaveSpec writes a run's spec, labels and annotations (skip and resume
// requests are kept).
func (s *Store) SaveSpec(run *v1alpha1.UpdateRun) error {
	return s.update(run.Name, false, func(cur *v1alpha1.UpdateRun) {
		kept := map[string]string{}
		for _, k := range []string{AnnotationSkips, AnnotationResume} {
			if v := cur.Annotations[k]; v != "" {
				kept[k] = v
			}
		}
		cur.Spec, cur.Labels, cur.Annotations = *run.Spec.DeepCopy(), run.Labels, map[string]string{}
		for k, v := range run.Annotations {
			cur.Annotations[k] = v
		}
		for k, v := range kept {
			cur.Annotations[k] = v
		}
	})
}

// SetState changes spec.state alone. Setting Run on a run that ended
// (failed, rolled back) also asks the hub to drive it again, as
// `upshift resume` does over files.
func (s *Store) SetState(name, state string) error {
	var refused string
	var cancelled error
	err := s.update(name, false, func(cur *v1alpha1.UpdateRun) {
		if cancelled = store.Resumable(cur, state); cancelled != nil {
			return
		}
		if state == v1alpha1.StateRun && cur.Status.Phase == v1alpha1.PhaseFailed && len(cur.Status.Stages) == 0 {
			refused = cur.Status.Message
			return
		}
		cur.Spec.State = state
		if state == v1alpha1.StateRun && cur.Status.Ended() && cur.Status.Phase != v1alpha1.PhaseCompleted {
			if cur.Annotations == nil {
				cur.Annotations = map[string]string{}
			}
			cur.Annotations[AnnotationResume] = strconv.FormatInt(time.Now().UnixNano(), 36)
		}
	})
	if err == nil && cancelled != nil {
		return cancelled
	}
	if err == nil && refused != "" {
		return fmt.Errorf("run %s never started (%s): fix it and apply it again (kubectl delete updaterun %s, then apply)", name, refused, name)
	}
	return err
}

// TakeUpResume turns a pending resume request of an ended run into a
// stopped run to drive: one status write, so a driver killed after it
// finds a run it drives on, and one killed before it finds the request
// still pending.
func (s *Store) TakeUpResume(name string) error {
	return s.update(name, true, func(cur *v1alpha1.UpdateRun) {
		if !cur.Status.Ended() || cur.Status.Phase == v1alpha1.PhaseCompleted || !ResumePending(cur) || len(cur.Status.Stages) == 0 {
			return
		}
		cur.Status.Phase, cur.Status.Message, cur.Status.End = v1alpha1.PhaseStopped, "resume requested", nil
		cur.Status.ResumeObserved = cur.Annotations[AnnotationResume]
	})
}

// SaveStatus writes a run's status subresource: first the
// UpdateRunMembers of the clusters that changed, then the run.
func (s *Store) SaveStatus(name string, status *v1alpha1.UpdateRunStatus) error {
	if err := s.fenced(name); err != nil {
		return err
	}
	if s.Scrub != nil {
		status = scrubbed(status, s.Scrub)
	}
	ctx, cancel := s.ctx()
	defer cancel()
	status, err := s.saveMembers(ctx, name, status)
	if err != nil {
		if apierrors.IsNotFound(err) || errors.Is(err, store.ErrNotFound) {
			s.forget(name)
		}
		return err
	}
	owner := client.FieldOwner(s.fieldOwner())
	// The driver writes the status many times: after the first, write
	// against the version it left, with no read. Anything else that wrote
	// the run since (a stop, a skip) makes it a conflict, and the write is
	// done again from a fresh read.
	if rv, ok := s.versions.Load(name); ok {
		run := &v1alpha1.UpdateRun{ObjectMeta: metav1.ObjectMeta{Namespace: s.Namespace, Name: name, ResourceVersion: rv.(string)}, Status: *status}
		err := s.Client.Status().Update(ctx, run, owner)
		if err == nil {
			s.versions.Store(name, run.ResourceVersion)
			return nil
		}
		s.versions.Delete(name)
		if apierrors.IsNotFound(err) {
			s.forget(name)
		}
		if !apierrors.IsConflict(err) {
			return err
		}
		// Someone wrote the run since: a stop, a skip, or another driver.
		if err := s.stillOurs(ctx, name); err != nil {
			return err
		}
	}
	var written string
	err = s.update(name, true, func(cur *v1alpha1.UpdateRun) { cur.Status = *status.DeepCopy() }, &written)
	if err == nil {
		s.versions.Store(name, written)
	}
	return err
}

// Delete deletes a run; what it owns (its members, fleet and audit
// ConfigMaps, approval requests, driver lease) goes with it by the API server's
// garbage collector. A run already gone is not an error.
func (s *Store) Delete(name string) error {
	ctx, cancel := s.ctx()
	defer cancel()
	run := &v1alpha1.UpdateRun{ObjectMeta: metav1.ObjectMeta{Namespace: s.Namespace, Name: name}}
	err := s.Client.Delete(ctx, run, client.PropagationPolicy(metav1.DeletePropagationBackground))
	s.forget(name)
	return client.IgnoreNotFound(err)
}

// owned makes a ConfigMap of the run, deleted with it.
func (s *Store) owned(ctx context.Context, run string, suffix string) (*corev1.ConfigMap, error) {
	owner, err := s.get(ctx, run)
	if err != nil {
		return nil, err
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: s.Namespace, Name: run + suffix, Labels: map[string]string{LabelRun: run}}}
	if err := controllerutil.SetOwnerReference(owner, cm, s.Client.Scheme()); err != nil {
		return nil, err
	}
	return cm, nil
}

// SaveFleet keeps the fleet the run started with (ConfigMap <run>-fleet).
func (s *Store) SaveFleet(name string, data []byte) error {
	ctx, cancel := s.ctx()
	defer cancel()
	cm, err := s.owned(ctx, name, "-fleet")
	if err != nil {
		return err
	}
	_, err = controllerutil.CreateOrUpdate(ctx, s.Client, cm, func() error {
		cm.Data = map[string]string{"fleet.yaml": string(data)}
		return nil
	})
	return err
}

// Fleet reads the fleet the run started with.
func (s *Store) Fleet(name string) ([]byte, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	cm := &corev1.ConfigMap{}
	if err := s.Client.Get(ctx, s.key(name+"-fleet"), cm); err != nil {
		return nil, err
	}
	return []byte(cm.Data["fleet.yaml"]), nil
}

// RequestName is the ApprovalRequest of a run's approval key.
func RequestName(run, key string) string {
	sum := sha256.Sum256([]byte(key))
	return fmt.Sprintf("%s-%s", run[:min(len(run), 52)], hex.EncodeToString(sum[:])[:10])
}

// Request makes (or finds) the ApprovalRequest of a run's key, unapproved:
// what a person or a pipeline approves through the API.
func (s *Store) Request(ctx context.Context, run, key, message string) (*v1alpha1.ApprovalRequest, error) {
	owner, err := s.get(ctx, run)
	if err != nil {
		return nil, err
	}
	ar := &v1alpha1.ApprovalRequest{ObjectMeta: metav1.ObjectMeta{Namespace: s.Namespace, Name: RequestName(run, key)}}
	_, err = controllerutil.CreateOrUpdate(ctx, s.Client, ar, func() error {
		ar.Labels = map[string]string{LabelRun: run}
		if message == "" {
			message = ar.Spec.Message
		}
		ar.Spec = v1alpha1.ApprovalRequestSpec{UpdateRun: run, Key: key, Message: message}
		return controllerutil.SetOwnerReference(owner, ar, s.Client.Scheme())
	})
	return ar, err
}

// RequestApproval makes the ApprovalRequest of a waiting approval, so
// `kubectl get approvalrequests` lists what waits and an approver sets its
// Approved condition.
func (s *Store) RequestApproval(run, key, message string) error {
	ctx, cancel := s.ctx()
	defer cancel()
	_, err := s.Request(ctx, run, key, message)
	return err
}

var _ store.ApprovalRequester = (*Store)(nil)

// Approve records an approval: the key's ApprovalRequest with its
// Approved condition True.
func (s *Store) Approve(name string, a store.Approval) error {
	ctx, cancel := s.ctx()
	defer cancel()
	ar, err := s.Request(ctx, name, a.Key, "")
	if err != nil {
		return err
	}
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := s.Client.Get(ctx, client.ObjectKeyFromObject(ar), ar); err != nil {
			return err
		}
		msg := "approved by " + a.By
		if a.OSUser != "" {
			msg += " (OS user " + a.OSUser + ")"
		}
		meta.SetStatusCondition(&ar.Status.Conditions, metav1.Condition{Type: v1alpha1.ConditionApproved, Status: metav1.ConditionTrue, Reason: "Approved", Message: msg, LastTransitionTime: metav1.NewTime(a.Time)})
		ar.Status.ApprovedBy = a.By
		return s.Client.Status().Update(ctx, ar)
	})
}

// Approvals reads the run's approved requests.
func (s *Store) Approvals(name string) (map[string]store.Approval, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	var list v1alpha1.ApprovalRequestList
	if err := s.Client.List(ctx, &list, client.InNamespace(s.Namespace), client.MatchingLabels{LabelRun: name}); err != nil {
		return nil, err
	}
	return Approved(list.Items, name), nil
}

// Approved are the approvals of run among requests: those whose Approved
// condition is True, by key.
func Approved(requests []v1alpha1.ApprovalRequest, run string) map[string]store.Approval {
	out := map[string]store.Approval{}
	for _, ar := range requests {
		c := meta.FindStatusCondition(ar.Status.Conditions, v1alpha1.ConditionApproved)
		if ar.Spec.UpdateRun != run || c == nil || c.Status != metav1.ConditionTrue {
			continue
		}
		by := ar.Status.ApprovedBy
		if by == "" {
			by = "(unnamed)"
		}
		out[ar.Spec.Key] = store.Approval{Key: ar.Spec.Key, By: by, Time: c.LastTransitionTime.UTC()}
	}
	return out
}

// Skip records a skip request in the run's skips annotation.
func (s *Store) Skip(name string, a store.Approval) error {
	return s.update(name, false, func(cur *v1alpha1.UpdateRun) {
		skips := map[string]bool{}
		_ = json.Unmarshal([]byte(cur.Annotations[AnnotationSkips]), &skips)
		skips[a.Key] = true
		data, _ := json.Marshal(skips)
		if cur.Annotations == nil {
			cur.Annotations = map[string]string{}
		}
		cur.Annotations[AnnotationSkips] = string(data)
	})
}

// Requested reads the run's state and skips, from the cache when there
// is one: the driver polls them, and a run's status over a thousand
// clusters is most of a megabyte to read each time.
func (s *Store) Requested(name string) (string, map[string]bool, error) {
	var run *v1alpha1.UpdateRun
	if s.Cache != nil {
		ctx, cancel := s.ctx()
		defer cancel()
		run = &v1alpha1.UpdateRun{}
		if err := s.Cache.Get(ctx, s.key(name), run); err != nil {
			return "", nil, err
		}
	} else {
		var err error
		if run, err = s.Get(name); err != nil {
			return "", nil, err
		}
	}
	skips, err := skipsOf(run)
	return run.Spec.State, skips, err
}

var _ store.Requests = (*Store)(nil)

// Skips reads the run's skip requests.
func (s *Store) Skips(name string) (map[string]bool, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	run, err := s.get(ctx, name)
	if err != nil {
		return nil, err
	}
	return skipsOf(run)
}

func skipsOf(run *v1alpha1.UpdateRun) (map[string]bool, error) {
	skips := map[string]bool{}
	if v := run.Annotations[AnnotationSkips]; v != "" {
		if err := json.Unmarshal([]byte(v), &skips); err != nil {
			return nil, fmt.Errorf("run %s: annotation %s: %w", run.Name, AnnotationSkips, err)
		}
	}
	return skips, nil
}

// scrubbed is a copy of a status with every message and output rewritten.
func scrubbed(in *v1alpha1.UpdateRunStatus, f func(string) string) *v1alpha1.UpdateRunStatus {
	st := in.DeepCopy()
	st.Message = f(st.Message)
	for i := range st.Conditions {
		st.Conditions[i].Message = f(st.Conditions[i].Message)
	}
	for i := range st.Stages {
		sg := &st.Stages[i]
		sg.Message = f(sg.Message)
		for _, tasks := range [][]v1alpha1.TaskStatus{sg.BeforeTasks, sg.AfterTasks} {
			for k := range tasks {
				tasks[k].Message = f(tasks[k].Message)
			}
		}
		for j := range sg.Clusters {
			c := &sg.Clusters[j]
			c.Message = f(c.Message)
			for k := range c.Steps {
				c.Steps[k].Message, c.Steps[k].Output = f(c.Steps[k].Message), f(c.Steps[k].Output)
			}
		}
	}
	return st
}
