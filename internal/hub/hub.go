package hub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	coordinationv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/util/retry"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/engine"
	"upshift.dev/upshift/internal/fleet"
	"upshift.dev/upshift/internal/hubstore"
	"upshift.dev/upshift/internal/notify"
	"upshift.dev/upshift/internal/providers/fleetmember"
	"upshift.dev/upshift/internal/runmetrics"
	"upshift.dev/upshift/internal/store"
)

// Options configure a hub.
type Options struct {
	// Namespace holds the runs, strategies and member clusters.
	Namespace string
	// Identity names this replica in leases.
	Identity string
	// LeaderElection on the Lease upshift-hub (off: this replica drives).
	LeaderElection bool
	// LeaseDuration of the leader's lease and of each run's.
	LeaseDuration time.Duration
	// HealthProbeAddr serves /healthz and /readyz ("0" or "": off).
	HealthProbeAddr string
	// MetricsAddr serves the controller's Prometheus metrics ("": off).
	MetricsAddr string
	// NewEngine builds the engine of one run over its fleet.
	NewEngine func(clusters []v1alpha1.Cluster, runs store.Runs) *engine.Engine
	// Progress sees every event of the runs driven here.
	Progress func(run string, ev engine.Event)
	// CredentialsDir holds the kubeconfigs read from members' Secrets,
	// one 0600 file per run and cluster (default: a private temporary
	// folder, removed when the hub stops).
	CredentialsDir string
	// AllowExec lets runs and clusters run commands in the hub's process:
	// Command gates, exec providers, kubeconfig plugins. Off, they are
	// refused (the tenant boundary: see tenant.go).
	AllowExec bool
	// KeepRuns keeps the newest this many ended runs and deletes older
	// ones with what they own (0: keep all). A run's own
	// spec.ttlSecondsAfterFinished deletes it sooner.
	KeepRuns int
	// Serve, when set, is given the hub's watch cache once it exists, for
	// servers that read runs from it (the dashboard: open pages then cost
	// the API server no requests); stop is called when the hub stops.
	Serve func(cache client.Reader) (stop func(), err error)
	// Log receives the controller's own log records (leader election,
	// reconcile errors), as the gateway's and the ingress's go through
	// slog; nil discards them.
	Log *slog.Logger
}

// Run runs the hub until ctx ends.
func Run(ctx context.Context, cfg *rest.Config, o Options) error {
	if o.LeaseDuration == 0 {
		o.LeaseDuration = 15 * time.Second
	}
	logger := logr.Discard()
	if o.Log != nil {
		logger = logr.FromSlogHandler(o.Log.Handler())
	}
	log.SetLogger(logger)
	ctx = log.IntoContext(ctx, logger)
	if o.CredentialsDir == "" {
		dir, err := os.MkdirTemp("", "upshift-hub-credentials-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		o.CredentialsDir = dir
	}
	renew := o.LeaseDuration * 2 / 3
	retryPeriod := o.LeaseDuration / 5
	probe, metrics := o.HealthProbeAddr, o.MetricsAddr
	if probe == "" {
		probe = "0"
	}
	if metrics == "" {
		metrics = "0"
	}
	// The leader's lease names this replica as the runs' leases do.
	lock, err := resourcelock.New(resourcelock.LeasesResourceLock, o.Namespace, "upshift-hub",
		corev1client.NewForConfigOrDie(cfg), coordinationv1client.NewForConfigOrDie(cfg), resourcelock.ResourceLockConfig{Identity: o.Identity})
	if err != nil {
		return err
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		LeaderElectionResourceLockInterface: lock,
		Scheme:                              hubstore.Scheme(),
		Cache:                               cache.Options{DefaultNamespaces: map[string]cache.Config{o.Namespace: {}}},
		Metrics:                             metricsserver.Options{BindAddress: metrics},
		HealthProbeBindAddress:              probe,
		LeaderElection:                      o.LeaderElection,
		LeaderElectionID:                    "upshift-hub",
		LeaderElectionNamespace:             o.Namespace,
		LeaseDuration:                       &o.LeaseDuration,
		RenewDeadline:                       &renew,
		RetryPeriod:                         &retryPeriod,
		// A replica that loses the lease stops at once; the standby
		// takes the runs over through their own leases.
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}
	direct, err := client.New(cfg, client.Options{Scheme: hubstore.Scheme()})
	if err != nil {
		return err
	}
	r := &Reconciler{
		Client:  direct,
		Store:   &hubstore.Store{Client: direct, Cache: mgr.GetCache(), Namespace: o.Namespace, Identity: o.Identity, LeaseDuration: o.LeaseDuration},
		Cache:   mgr.GetCache(),
		Options: o,
		Events:  mgr.GetEventRecorder("upshift-hub"),
		driving: map[string]bool{},
		parked:  map[string]parkedRun{},
	}
	r.Store.Scrub = r.scrub.text
	// Every replica watches the runs' driver leases, leader or not, so
	// that a standby counts a dead driver's lease from when it stopped
	// changing, not from when the standby first looked (hubstore/lease.go).
	leases, err := mgr.GetCache().GetInformer(ctx, &coordinationv1.Lease{})
	if err != nil {
		return err
	}
	observe := func(obj any) {
		if l, ok := obj.(*coordinationv1.Lease); ok {
			r.Store.Observe(l)
		}
	}
	if _, err := leases.AddEventHandler(toolscache.ResourceEventHandlerFuncs{AddFunc: func(o any) { observe(o) }, UpdateFunc: func(_, o any) { observe(o) }}); err != nil {
		return err
	}
	// An approval wakes the run it belongs to, parked at its wait.
	approvalRun := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, obj client.Object) []reconcile.Request {
		ar, ok := obj.(*v1alpha1.ApprovalRequest)
		if !ok || ar.Spec.UpdateRun == "" {
			return nil
		}
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: ar.Namespace, Name: ar.Spec.UpdateRun}}}
	})
	if err := ctrl.NewControllerManagedBy(mgr).For(&v1alpha1.UpdateRun{}).Watches(&v1alpha1.ApprovalRequest{}, approvalRun).Complete(r); err != nil {
		return err
	}
	// The runs' metrics, beside controller-runtime's own; only the leader
	// reports them, so a sum over the replicas counts each run once. A
	// scrape reads the watch cache: it costs the API server nothing.
	elected := mgr.Elected()
	cached := hubstore.CachedReads{Store: r.Store, Cache: mgr.GetCache()}
	runs := &runmetrics.Collector{Runs: func() ([]*v1alpha1.UpdateRun, error) {
		select {
		case <-elected:
			return cached.List()
		default:
			return nil, nil
		}
	}}
	if err := ctrlmetrics.Registry.Register(runs); err != nil && !errors.As(err, new(prometheus.AlreadyRegisteredError)) {
		return err
	}
	if o.Serve != nil {
		stop, err := o.Serve(mgr.GetCache())
		if err != nil {
			return err
		}
		defer stop()
	}
	r.ctx = ctx
	return mgr.Start(ctx)
}

// Reconciler initializes and drives UpdateRuns.
type Reconciler struct {
	Client client.Client
	// Cache is the manager's watch cache of UpdateRuns: what Reconcile
	// looks at, rather than read each run from the API server.
	Cache   client.Reader
	Store   *hubstore.Store
	Options Options
	// Events records a run's milestones as events.k8s.io Events on it
	// (kubectl describe ur, kubectl events): what its notifications say.
	Events events.EventRecorder

	ctx     context.Context
	mu      sync.Mutex
	driving map[string]bool
	// parked are the runs whose drive parked at a wait: no goroutine
	// waits for them; Reconcile drives them again when their wait is
	// over or what they wait for changed.
	parked map[string]parkedRun
	// scrub holds the secrets read from members' Secrets; no status write
	// carries them.
	scrub scrubber
}

// requeue is how often a run driven elsewhere, or waiting, is looked at:
// a quarter of the lease, so a standby takes a dead driver's run soon
// after its lease runs out.
func (r *Reconciler) requeue() time.Duration { return r.Options.LeaseDuration / 4 }

// Reconcile brings one run on: it initializes a run that was only
// applied, and drives one that is not driven.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	logger := log.FromContext(ctx)
	run := &v1alpha1.UpdateRun{}
	if err := r.Cache.Get(ctx, req.NamespacedName, run); err != nil {
		if apierrors.IsNotFound(err) {
			r.unpark(req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if run.Status.Ended() && !hubstore.ResumePending(run) {
		return r.retain(ctx, run)
	}
	if len(run.Status.Stages) == 0 || run.Status.Ended() {
		// The cache may not have seen our own write yet: only a run the
		// API server says is new is planned, and only a resume request it
		// still holds is taken up.
		fresh, err := r.Store.Get(req.Name)
		if errors.Is(err, store.ErrNotFound) {
			return ctrl.Result{}, nil
		}
		if err != nil {
			return ctrl.Result{}, err
		}
		run = fresh
	}
	if run.Status.Ended() {
		if !hubstore.ResumePending(run) || len(run.Status.Stages) == 0 {
			return ctrl.Result{}, nil
		}
		// `upshift resume` of a run that failed or was rolled back.
		if err := r.Store.TakeUpResume(run.Name); err != nil {
			return ctrl.Result{}, err
		}
		logger.Info("resume requested", "run", run.Name)
		return ctrl.Result{RequeueAfter: r.requeue()}, nil
	}
	if len(run.Status.Stages) == 0 {
		if err := r.initialize(ctx, run); err != nil {
			logger.Info("run cannot start", "run", run.Name, "error", err.Error())
			return ctrl.Result{}, r.refuse(run, err)
		}
	}
	if run.Spec.State == v1alpha1.StateInitialize || run.Spec.State == v1alpha1.StateStop && run.Status.Phase != v1alpha1.PhaseWaiting {
		// (A stop of a run parked at a wait is a drive: it stops there.)
		return ctrl.Result{}, nil
	}
	if wait, ok := r.stillParked(ctx, run); ok {
		return ctrl.Result{RequeueAfter: wait}, nil
	}
	r.drive(run)
	return ctrl.Result{RequeueAfter: r.requeue()}, nil
}

// initialize plans a run applied to the hub over the namespace's Cluster
// objects and its strategy, as `upshift run` does over files.
func (r *Reconciler) initialize(ctx context.Context, run *v1alpha1.UpdateRun) error {
	var list v1alpha1.ClusterList
	if err := r.Client.List(ctx, &list, client.InNamespace(r.Options.Namespace)); err != nil {
		return err
	}
	clusters := make([]v1alpha1.Cluster, 0, len(list.Items))
	for _, c := range list.Items {
		c.APIVersion, c.Kind = v1alpha1.GroupVersion, "Cluster"
		c.ObjectMeta = metav1.ObjectMeta{Name: c.Name, Labels: c.Labels}
		c.Status = v1alpha1.ClusterStatus{}
		clusters = append(clusters, c)
	}
	if len(clusters) == 0 {
		return fmt.Errorf("namespace %s holds no Cluster objects: apply the fleet's Cluster objects first", r.Options.Namespace)
	}
	if _, err := fleet.Marshal(clusters); err != nil {
		return err
	}
	strategy := run.Spec.Strategy
	if ref := run.Spec.StrategyRef; ref != nil {
		s := &v1alpha1.UpdateStrategy{}
		if err := r.Client.Get(ctx, client.ObjectKey{Namespace: r.Options.Namespace, Name: ref.Name}, s); err != nil {
			return fmt.Errorf("spec.strategyRef names UpdateStrategy %q: %w", ref.Name, err)
		}
		strategy = &s.Spec
	}
	if strategy == nil {
		return fmt.Errorf("the run names no strategy: set spec.strategy or spec.strategyRef")
	}
	if paths := execPaths(&run.Spec, strategy, clusters); len(paths) > 0 && !r.Options.AllowExec {
		return execRefused(paths)
	}
	if paths := podFiles(&run.Spec, r.Options.AllowExec); len(paths) > 0 {
		return podFilesRefused(paths)
	}
	if _, err := r.withSinkURLs(ctx, run); err != nil {
		return err
	}
	if _, err := r.trafficSecrets(ctx, run); err != nil {
		return err
	}
	resolved, err := r.withCredentials(ctx, run.Name, clusters)
	if err != nil {
		return err
	}
	_, err = r.Options.NewEngine(resolved, runs{Store: r.Store}).Initialize(ctx, run, strategy)
	return err
}

// runs is the store the hub's engines write through: the fleet they
// freeze names members' Secrets, never the files read from them; the
// runs they read point at the private files their traffic Secrets were
// read into (secrets), which no write carries back.
type runs struct {
	*hubstore.Store
	secrets func(*v1alpha1.UpdateRun)
}

func (s runs) Get(name string) (*v1alpha1.UpdateRun, error) {
	run, err := s.Store.Get(name)
	if err == nil && s.secrets != nil {
		s.secrets(run)
	}
	return run, err
}

func (s runs) SaveFleet(name string, data []byte) error {
	clusters, err := fleet.Parse(name+"/fleet.yaml", data)
	if err != nil {
		return err
	}
	for i := range clusters {
		if clusters[i].Spec.KubeconfigSecretRef != nil {
			clusters[i].Spec.Kubeconfig = ""
		}
		if e := clusters[i].Spec.Exec; e != nil {
			for name := range e.EnvSecretRefs {
				delete(e.Env, name)
			}
		}
	}
	if data, err = fleet.Marshal(clusters); err != nil {
		return err
	}
	return s.Store.SaveFleet(name, data)
}

// retarget makes a member's Cluster object name green in blue's place
// once a blue-green or canary move retired blue, as `upshift run` does
// in a fleet file. A member deleted meanwhile is left deleted.
func (r *Reconciler) retarget(ctx context.Context, name, green string) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		c := &v1alpha1.Cluster{}
		if err := r.Client.Get(ctx, client.ObjectKey{Namespace: r.Options.Namespace, Name: name}, c); err != nil {
			return client.IgnoreNotFound(err)
		}
		moved, err := fleetmember.Retarget(*c, green)
		if err != nil {
			return err
		}
		if equality.Semantic.DeepEqual(moved.Spec, c.Spec) {
			return nil
		}
		c.Spec = moved.Spec
		return r.Client.Update(ctx, c)
	})
}

// Reasons of the Events a hub records on runs besides the notification
// kinds (v1alpha1.Notify*), which are reasons as they are.
const eventRefused = "Refused"

// record makes a notification an Event on its run: a Warning when
// something failed or was rolled back.
func (r *Reconciler) record(run *v1alpha1.UpdateRun, no notify.Notification) {
	if r.Events == nil {
		return
	}
	typ := corev1.EventTypeNormal
	switch no.Kind {
	case v1alpha1.NotifyStepFailed, v1alpha1.NotifyRunFailed, v1alpha1.NotifyRolledBack, v1alpha1.NotifyEscalated:
		typ = corev1.EventTypeWarning
	}
	action := "Drive"
	if no.Kind == v1alpha1.NotifyApprovalNeeded {
		action = "WaitForApproval"
	}
	note := no.Message
	if where := strings.Trim(no.Stage+"/"+no.Cluster, "/"); where != "" {
		note = where + ": " + note
	}
	if no.Command != "" {
		note += " (" + no.Command + ")"
	}
	r.Events.Eventf(run, nil, typ, no.Kind, action, "%s", eventNote(note))
}

// eventNote fits a note into an Event (1 KiB at most).
func eventNote(s string) string {
	const limit = 1024
	if len(s) <= limit {
		return s
	}
	return s[:limit-3] + "..."
}

// refuse records why a run cannot start, in its status and as a Warning
// Event on it.
func (r *Reconciler) refuse(run *v1alpha1.UpdateRun, why error) error {
	name := run.Name
	if r.Events != nil {
		r.Events.Eventf(run, nil, corev1.EventTypeWarning, eventRefused, "Initialize", "%s", eventNote(r.scrub.text(why.Error())))
	}
	st := v1alpha1.UpdateRunStatus{Phase: v1alpha1.PhaseFailed, Message: why.Error(), End: new(metav1.Now())}
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: v1alpha1.ConditionInitialized, Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonInvalid, Message: why.Error()})
	return r.Store.SaveStatus(name, &st)
}

// drive drives a run in the background unless this replica drives it;
// a run another replica holds the lease of is tried again at the next
// requeue, so a standby takes it over once that lease expires. run is
// the run as Reconcile read it (the watch cache).
func (r *Reconciler) drive(run *v1alpha1.UpdateRun) {
	name := run.Name
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.driving[name] {
		return
	}
	data, err := r.Store.Fleet(name)
	if err != nil {
		return
	}
	clusters, err := fleet.Parse(name+"/fleet.yaml", data)
	if err != nil {
		return
	}
	if !r.Options.AllowExec {
		// Again at every drive: the frozen fleet and the spec live in
		// objects a tenant may edit, and a hub may restart without
		// --allow-exec. (Right after planning, the cached run may not
		// show its strategy snapshot yet; initialize checked it.)
		if paths := execPaths(&run.Spec, run.Status.Strategy, clusters); len(paths) > 0 {
			log.FromContext(r.ctx).Info("run not driven", "run", name, "error", execRefused(paths).Error())
			return
		}
	}
	if paths := podFiles(&run.Spec, r.Options.AllowExec); len(paths) > 0 {
		log.FromContext(r.ctx).Info("run not driven", "run", name, "error", podFilesRefused(paths).Error())
		return
	}
	pointAtSecrets, err := r.trafficSecrets(r.ctx, run)
	if err != nil {
		log.FromContext(r.ctx).Info("run cannot go on", "run", name, "error", err.Error())
		return
	}
	notified, err := r.withSinkURLs(r.ctx, run)
	if err != nil {
		log.FromContext(r.ctx).Info("run cannot go on", "run", name, "error", err.Error())
		return
	}
	clusters, err = r.withCredentials(r.ctx, name, clusters)
	if err != nil {
		log.FromContext(r.ctx).Info("run cannot go on", "run", name, "error", err.Error())
		return
	}
	var notifier *notify.Notifier // closed when the drive ends
	if len(notified.Spec.Notifications) > 0 {
		if notifier, err = notify.New(notified, "", func(ev store.Event) { _ = r.Store.Audit(name, ev) }, notify.DefaultRetry); err != nil {
			log.FromContext(r.ctx).Info("run cannot go on", "run", name, "error", err.Error())
			return
		}
	}
	e := r.Options.NewEngine(clusters, runs{Store: r.Store, secrets: pointAtSecrets})
	e.OnReplaced = func(member string, _ []string, green string) error { return r.retarget(r.ctx, member, green) }
	e.Progress = func(ev engine.Event) {
		ev.Message = r.scrub.text(ev.Message)
		if p := r.Options.Progress; p != nil {
			p(name, ev)
		}
		if no, ok := notify.FromEvent(name, ev); ok {
			notifier.Send(no)
			r.record(run, no)
		}
	}
	r.driving[name] = true
	waitsFor := r.waitsFor(r.ctx, run)
	// A wait longer than this is parked; a shorter soak is waited out
	// in place, which costs less than driving the run again.
	e.Park = max(r.Options.LeaseDuration, 30*time.Second)
	go func() {
		defer func() {
			// What is queued gets a few seconds to go out; the audit
			// trail says what did not.
			flush, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), 10*time.Second)
			defer cancel()
			notifier.Close(flush)
		}()
		_, err := e.Drive(r.ctx, name)
		var parked *engine.ParkedError
		switch {
		case errors.As(err, &parked):
			log.FromContext(r.ctx).V(1).Info("run parked", "run", name, "until", parked.Until, "why", parked.Why)
		case err != nil && !errors.Is(err, store.ErrLocked) && r.ctx.Err() == nil:
			log.FromContext(r.ctx).Info("run ended", "run", name, "error", err.Error())
		}
		r.mu.Lock()
		delete(r.driving, name)
		if parked != nil {
			r.parked[name] = parkedRun{until: parked.Until, waitsFor: waitsFor}
		}
		r.mu.Unlock()
	}()
}
