package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// UpdateStrategy is a reusable, ordered plan of stages (Azure Fleet's
// update strategy; KubeFleet's staged update strategy).
// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=ust,categories=upshift
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type UpdateStrategy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec UpdateStrategySpec `json:"spec"`
}

// UpdateStrategySpec lists the stages, run in order.
type UpdateStrategySpec struct {
	Stages []StageSpec `json:"stages"`
	// Emergency is how `upshift patch` compresses this strategy for an
	// emergency node-image patch: stages and gates are kept; soaks are
	// shortened and approvals may be skipped.
	Emergency *EmergencyPolicy `json:"emergency,omitempty"`
}

// EmergencyPolicy compresses a strategy for an emergency patch.
type EmergencyPolicy struct {
	// AfterStageWait caps every after-stage TimedWait (and
	// afterStageWaitInSeconds); unset keeps the soaks as they are.
	AfterStageWait *metav1.Duration `json:"afterStageWait,omitempty"`
	// SkipApprovals drops the stages' Approval tasks; each one dropped is
	// recorded in the run's audit log. Gates of every other type stay.
	SkipApprovals bool `json:"skipApprovals,omitempty"`
}

// StageSpec selects clusters and says how to walk them.
type StageSpec struct {
	Name string `json:"name"`
	// Groups selects clusters by their spec.group; groups of a stage run in
	// parallel.
	Groups []GroupRef `json:"groups,omitempty"`
	// LabelSelector selects clusters by label (AND with Groups).
	LabelSelector *metav1.LabelSelector `json:"labelSelector,omitempty"`
	// MaxConcurrency bounds the clusters upgraded at once in each group: a
	// count or a percentage of the group. Default 1.
	MaxConcurrency *intstr.IntOrString `json:"maxConcurrency,omitempty"`
	// MaxFailedClusters lets the stage go on past this many failed (or
	// skipped unreachable) clusters: a count or a percentage of the
	// stage's clusters, rounded down. See FailurePolicy.
	MaxFailedClusters *intstr.IntOrString `json:"maxFailedClusters,omitempty"`
	// BeforeStageTasks run before the stage's clusters (Approval).
	BeforeStageTasks []StageTask `json:"beforeStageTasks,omitempty"`
	// AfterStageTasks run after them (TimedWait, Approval, Gate).
	AfterStageTasks []StageTask `json:"afterStageTasks,omitempty"`
	// AfterStageWaitInSeconds is Azure Fleet's soak: a TimedWait after the
	// stage.
	AfterStageWaitInSeconds int `json:"afterStageWaitInSeconds,omitempty"`
	// BeforeGates and AfterGates are Azure Fleet's stage gates (type
	// Approval); they become approval tasks.
	BeforeGates []AzureGate `json:"beforeGates,omitempty"`
	AfterGates  []AzureGate `json:"afterGates,omitempty"`
}

// AzureGate is a gate in Azure Fleet's stage format.
type AzureGate struct {
	DisplayName string `json:"displayName,omitempty"`
	Type        string `json:"type"`
}

// GroupRef names a group of clusters.
type GroupRef struct {
	Name string `json:"name"`
	// MaintenanceWindow holds the steps of the group's clusters that have
	// no window of their own (a cluster's own window wins).
	MaintenanceWindow *MaintenanceWindow `json:"maintenanceWindow,omitempty"`
	// MaxFailedClusters lets the group go on past this many failed (or
	// skipped unreachable) clusters: a count or a percentage of the
	// group's clusters in the stage, rounded down.
	MaxFailedClusters *intstr.IntOrString `json:"maxFailedClusters,omitempty"`
}

// Stage task types.
const (
	TaskTimedWait = "TimedWait"
	TaskApproval  = "Approval"
	TaskGate      = "Gate"
)

// StageTask is a wait, an approval or a gate around a stage.
type StageTask struct {
	// +kubebuilder:validation:Enum=TimedWait;Approval;Gate
	Type string `json:"type"`
	// Name tells tasks of one stage apart; defaults to the type.
	Name string `json:"name,omitempty"`
	// WaitTime of a TimedWait.
	WaitTime *metav1.Duration `json:"waitTime,omitempty"`
	// Gate of a Gate task.
	Gate *GateSpec `json:"gate,omitempty"`
}

// Gate types.
const (
	GateTimedWait        = "TimedWait"
	GateApproval         = "Approval"
	GateKubernetesHealth = "KubernetesHealth"
	GateHTTP             = "HTTP"
	GateCommand          = "Command"
	GateDeprecatedAPIs   = "DeprecatedAPIs"
	GateReadiness        = "Readiness"
	// GateDrainSimulation replays the cluster's node pool upgrades
	// (upshift plan --simulate) and fails on a drain that will not finish.
	GateDrainSimulation = "DrainSimulation"
	// GateMetrics compares green with blue from the traffic provider's
	// own counters (canary analysis only).
	GateMetrics = "Metrics"
	// GatePrometheus measures a PromQL query against a condition.
	GatePrometheus = "Prometheus"
)

// GateSpec is a check that must pass before a run goes on. A
// DeprecatedAPIs gate fails when the cluster uses an API removed in the
// run's target version (upshift scan apis as a gate).
type GateSpec struct {
	Name string `json:"name"`
	Type string `json:"type"`
	// Interval between attempts (default 5s).
	Interval *metav1.Duration `json:"interval,omitempty"`
	// Timeout of the whole gate (default 5m; an Approval gate has none
	// unless set, and counts it from when it began to wait, across
	// resumes).
	Timeout *metav1.Duration `json:"timeout,omitempty"`
	// FailureThreshold is how many failed attempts fail the gate (default 3).
	FailureThreshold int `json:"failureThreshold,omitempty"`
	// Duration of a TimedWait gate.
	Duration *metav1.Duration `json:"duration,omitempty"`
	// HTTP check.
	HTTP *HTTPGate `json:"http,omitempty"`
	// Command check.
	Command *CommandGate `json:"command,omitempty"`
	// KubernetesHealth check.
	KubernetesHealth *KubernetesHealthGate `json:"kubernetesHealth,omitempty"`
	// Readiness check (upshift scan readiness as a gate).
	Readiness *ReadinessGate `json:"readiness,omitempty"`
	// Metrics compares green with blue (canary analysis).
	Metrics *MetricsGate `json:"metrics,omitempty"`
	// Prometheus measures a query.
	Prometheus *PrometheusGate `json:"prometheus,omitempty"`
}

// PrometheusGate measures a PromQL query Count times, at the gate's
// interval, in the shape of Argo Rollouts' AnalysisTemplate metrics: more
// failed measurements than FailureLimit, or more inconclusive ones (no
// sample, NaN) than InconclusiveLimit, fail the gate.
type PrometheusGate struct {
	// Address of the Prometheus server, e.g. http://127.0.0.1:9090.
	Address string `json:"address"`
	// Query is PromQL returning one sample or a scalar. {{cluster}} is
	// the fleet cluster's name; {{blue}} and {{green}} are the provider's
	// names of a blue-green or canary move's clusters.
	Query string `json:"query"`
	// SuccessCondition compares the result with a number, e.g.
	// "result < 0.01" (operators < <= > >= == !=).
	SuccessCondition string `json:"successCondition"`
	// Count of measurements (default 1).
	Count int `json:"count,omitempty"`
	// FailureLimit and InconclusiveLimit are how many failed and
	// inconclusive measurements are tolerated (default 0).
	FailureLimit      int `json:"failureLimit,omitempty"`
	InconclusiveLimit int `json:"inconclusiveLimit,omitempty"`
}

// ReadinessGate fails on upgrade-readiness findings at or above FailOn.
type ReadinessGate struct {
	// FailOn is error (default), warning or info.
	FailOn                  string `json:"failOn,omitempty"`
	IncludeSystemNamespaces bool   `json:"includeSystemNamespaces,omitempty"`
}

// HTTPGate passes when the URL answers the expected status (and body).
type HTTPGate struct {
	URL            string `json:"url"`
	Host           string `json:"host,omitempty"`
	ExpectedStatus int    `json:"expectedStatus,omitempty"` // default 200
	BodyContains   string `json:"bodyContains,omitempty"`
}

// CommandGate runs a user's script; exit code 0 passes. The cluster's
// kubeconfig is in $KUBECONFIG and its name in $UPSHIFT_CLUSTER.
type CommandGate struct {
	// Command and its arguments. It runs in the folder of the run file
	// (recorded on the run as AnnotationWorkDir when it starts, so a
	// resume from elsewhere runs it in the same place), with KUBECONFIG,
	// UPSHIFT_CLUSTER, UPSHIFT_RUN and UPSHIFT_TARGET_VERSION set; the
	// last 4 KiB of its output are kept.
	Command []string `json:"command"`
}

// AnnotationWorkDir records on a run the folder its run file was in:
// Command gates run there.
const AnnotationWorkDir = "upshift.dev/workdir"

// AnnotationRetryOf names the run a retry run upgrades the failed or
// skipped clusters of (upshift retry).
const AnnotationRetryOf = "upshift.dev/retry-of"

// KubernetesHealthGate checks nodes, workloads and the API server.
type KubernetesHealthGate struct {
	// PendingThreshold is how long a pod may stay Pending (default 2m).
	PendingThreshold *metav1.Duration `json:"pendingThreshold,omitempty"`
}

// UpdateRun upgrades a fleet through a strategy's stages.
// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=ur,categories=upshift
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Progress",type=string,JSONPath=`.status.progress`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`,priority=1
// +kubebuilder:printcolumn:name="Method",type=string,JSONPath=`.spec.method`
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.upgrade.type`
// +kubebuilder:printcolumn:name="Kubernetes",type=string,JSONPath=`.spec.upgrade.kubernetesVersion`
// +kubebuilder:printcolumn:name="Node image",type=string,JSONPath=`.status.nodeImage`,priority=1
// +kubebuilder:printcolumn:name="Started",type=date,JSONPath=`.status.startTime`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=`.status.message`,priority=1
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.status) || !has(oldSelf.status.startTime) || (self.spec.upgrade == oldSelf.spec.upgrade && (has(self.spec.method) ? self.spec.method : 'InPlace') == (has(oldSelf.spec.method) ? oldSelf.spec.method : 'InPlace') && has(self.spec.strategyRef) == has(oldSelf.spec.strategyRef) && (!has(self.spec.strategyRef) || self.spec.strategyRef == oldSelf.spec.strategyRef))",message="a run that has started keeps its upgrade, method and strategyRef: cancel it (upshift cancel) and start a new run"
type UpdateRun struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   UpdateRunSpec   `json:"spec"`
	Status UpdateRunStatus `json:"status,omitempty"`
}

// Run states.
const (
	StateInitialize = "Initialize" // compute and show the plan only
	StateRun        = "Run"
	StateStop       = "Stop" // finish the current steps, start nothing new
	// StateRollback sends a blue-green run's traffic back to blue, lifts
	// the freeze and ends the run; green is kept for inspection.
	StateRollback = "Rollback"
	// StateCancel ends a run for good: the steps under way finish,
	// nothing new starts, and the run ends Cancelled. It cannot be resumed;
	// a blue-green run can still be rolled back.
	StateCancel = "Cancel"
)

// Upgrade types (Azure Fleet).
const (
	UpgradeFull             = "Full"
	UpgradeControlPlaneOnly = "ControlPlaneOnly"
	UpgradeNodeImageOnly    = "NodeImageOnly"
)

// Node image selections (Azure Fleet).
const (
	NodeImageLatest     = "Latest"
	NodeImageConsistent = "Consistent"
	NodeImageCustom     = "Custom"
)

// Methods.
const (
	MethodInPlace   = "InPlace"
	MethodBlueGreen = "BlueGreen"
	MethodCanary    = "Canary"
)

// UpdateRunSpec says what to upgrade to, how, and in which order.
type UpdateRunSpec struct {
	// StrategyRef names an UpdateStrategy; Strategy inlines one.
	StrategyRef *StrategyRef        `json:"strategyRef,omitempty"`
	Strategy    *UpdateStrategySpec `json:"strategy,omitempty"`
	Upgrade     UpgradeSpec         `json:"upgrade"`
	// Method is InPlace (the default), BlueGreen or Canary.
	// +kubebuilder:validation:Enum=InPlace;BlueGreen;Canary
	Method string `json:"method,omitempty"`
	// BlueGreen configures method BlueGreen, and how method Canary builds,
	// fills and retires clusters.
	BlueGreen *BlueGreenSpec `json:"blueGreen,omitempty"`
	// Canary configures method Canary's traffic steps and analysis.
	Canary      *CanarySpec     `json:"canary,omitempty"`
	NodeUpgrade NodeUpgradeSpec `json:"nodeUpgrade,omitempty"`
	Gates       RunGates        `json:"gates,omitempty"`
	// State is Initialize, Run (the default), Stop, Rollback or Cancel.
	// A run goes back to Initialize from nothing else, and a cancelled
	// run only to Rollback.
	// +kubebuilder:validation:Enum=Initialize;Run;Stop;Rollback;Cancel
	// +kubebuilder:validation:XValidation:rule="self == oldSelf || self != 'Initialize'",message="a run goes back to Initialize from no other state"
	// +kubebuilder:validation:XValidation:rule="self == oldSelf || oldSelf != 'Cancel' || self == 'Rollback'",message="a cancelled run cannot be resumed or stopped: only rolled back"
	State string `json:"state,omitempty"`
	// Clusters, when set, limits the run to these clusters of the fleet
	// (`upshift retry` sets the ones its run left undone); each must be a
	// cluster of the fleet. Empty: every cluster the stages select.
	// +listType=set
	Clusters []string `json:"clusters,omitempty"`
	// FailurePolicy says what a failed cluster does to its stage.
	FailurePolicy FailurePolicy `json:"failurePolicy,omitempty"`
	// Notifications post the run's events to webhooks.
	Notifications []NotificationSink `json:"notifications,omitempty"`
	// Patch marks an emergency node-image patch (`upshift patch`): what it
	// patches and whether it may run outside maintenance windows.
	Patch *PatchSpec `json:"patch,omitempty"`
	// TTLSecondsAfterFinished deletes the run, with its frozen fleet,
	// audit trail, approval requests and lease, this long after it ended
	// (Completed, Failed, RolledBack or Cancelled), as a Job's does. A hub
	// applies it; the CLI keeps runs until `upshift delete`.
	// +kubebuilder:validation:Minimum=0
	TTLSecondsAfterFinished *int32 `json:"ttlSecondsAfterFinished,omitempty"`
}

// PatchSpec is an emergency node-image patch.
type PatchSpec struct {
	// NodeImage is the image the pools move to, and Released when its
	// provider published it: the report counts time to patched from there.
	NodeImage string      `json:"nodeImage"`
	Released  metav1.Time `json:"released"`
	// CVEs the patch is for.
	CVEs []string `json:"cves,omitempty"`
	// OverrideMaintenanceWindows lets steps start outside the clusters'
	// windows; only an explicit flag sets it, and the audit log records
	// who did and why.
	OverrideMaintenanceWindows bool   `json:"overrideMaintenanceWindows,omitempty"`
	Reason                     string `json:"reason,omitempty"`
	RequestedBy                string `json:"requestedBy,omitempty"`
}

// Notification kinds, in the order a run sends them.
const (
	NotifyRunStarted     = "RunStarted"
	NotifyStageCompleted = "StageCompleted"
	NotifyApprovalNeeded = "ApprovalNeeded"
	NotifyStepFailed     = "StepFailed"
	NotifyRolledBack     = "RolledBack"
	NotifyRunCompleted   = "RunCompleted"
	NotifyRunFailed      = "RunFailed"
	// NotifyEscalated: an undrainable escalation deleted a pod a budget
	// kept (nodeUpgrade.undrainable.then DeletePod).
	NotifyEscalated = "Escalated"
)

// EventEscalated is the engine event of an undrainable escalation.
const EventEscalated = "Escalated"

// Notification formats.
const (
	NotifyFormatJSON  = "JSON"
	NotifyFormatSlack = "Slack"
	NotifyFormatTeams = "Teams"
)

// NotificationSink posts a run's events to a webhook: a JSON document, a
// Slack message or a Microsoft Teams card. Delivery is retried with
// backoff, never holds the run up, and is recorded in the audit log.
type NotificationSink struct {
	Name string `json:"name"`
	// URLFile holds the webhook's URL: Slack's and Teams' URLs carry
	// their secret, and a file keeps it out of the run. URL may be given
	// instead for a URL that holds none.
	URLFile string `json:"urlFile,omitempty"`
	URL     string `json:"url,omitempty"`
	// URLSecretRef names a Secret of the hub's namespace holding the URL
	// (key "url" by default), on a hub only: the Secret must be labelled
	// upshift.dev/notification-url=true. A hub refuses urlFile.
	URLSecretRef *SecretKeyRef `json:"urlSecretRef,omitempty"`
	// Format is JSON (the default), Slack or Teams.
	Format string `json:"format,omitempty"`
	// Events to send (default: all): RunStarted, StageCompleted,
	// ApprovalNeeded, StepFailed, RolledBack, RunCompleted, RunFailed,
	// Escalated.
	Events []string `json:"events,omitempty"`
}

// StrategyRef names an UpdateStrategy.
type StrategyRef struct {
	Name string `json:"name"`
}

// UpgradeSpec is the target.
type UpgradeSpec struct {
	// +kubebuilder:validation:Enum=Full;ControlPlaneOnly;NodeImageOnly
	Type               string              `json:"type"`
	KubernetesVersion  string              `json:"kubernetesVersion,omitempty"`
	NodeImageSelection *NodeImageSelection `json:"nodeImageSelection,omitempty"`
}

// NodeImageSelection picks the node image of upgraded pools.
type NodeImageSelection struct {
	// +kubebuilder:validation:Enum=Latest;Consistent;Custom
	Type  string `json:"type"`
	Image string `json:"image,omitempty"` // Custom
}

// Undrainable node behaviours (AKS).
const (
	UndrainableCordon   = "Cordon"
	UndrainableSchedule = "Schedule"
)

// NodeUpgradeSpec tunes node pool upgrades (AKS names).
type NodeUpgradeSpec struct {
	MaxSurge                *intstr.IntOrString `json:"maxSurge,omitempty"`
	DrainTimeout            *metav1.Duration    `json:"drainTimeout,omitempty"`
	NodeSoakDuration        *metav1.Duration    `json:"nodeSoakDuration,omitempty"`
	UndrainableNodeBehavior string              `json:"undrainableNodeBehavior,omitempty"`
	// NodeSoak makes the soak after each node watch pods, not only a
	// timer.
	NodeSoak *NodeSoakSpec `json:"nodeSoak,omitempty"`
	// Undrainable is an opt-in escalation for a node whose drain does
	// not finish; without it, undrainableNodeBehavior applies after the
	// drain timeout.
	Undrainable *UndrainableSpec `json:"undrainable,omitempty"`
}

// What an undrainable escalation does.
const (
	EscalateCordon    = "Cordon"
	EscalateDeletePod = "DeletePod"
	EscalateFail      = "Fail"
)

// UndrainableSpec escalates a drain that does not finish.
type UndrainableSpec struct {
	// After is how long a node's drain waits on pods that do not leave
	// before it escalates (default: the drain timeout).
	After *metav1.Duration `json:"after,omitempty"`
	// Then is Cordon (leave the node cordoned and labelled, go on, as
	// undrainableNodeBehavior Cordon), DeletePod (delete the pods a
	// PodDisruptionBudget alone keeps, never one with local data unless
	// allowLocalData, then finish the drain), or Fail (make the node
	// schedulable again and fail, the default behaviour).
	// +kubebuilder:validation:Enum=Cordon;DeletePod;Fail
	Then string `json:"then"`
	// AllowLocalData lets DeletePod delete pods with emptyDir data, which
	// is lost.
	AllowLocalData bool `json:"allowLocalData,omitempty"`
}

// NodeSoakSpec is a soak that watches the evicted pods' workloads.
type NodeSoakSpec struct {
	// ReadyPods: after each node is drained and deleted, wait until the
	// workloads of the pods it evicted (ReplicaSets, StatefulSets) are
	// back to their desired Ready replicas, then for nodeSoakDuration. A
	// workload that does not recover within Timeout fails the pool's
	// step, naming it.
	ReadyPods bool `json:"readyPods,omitempty"`
	// Timeout of the wait for Ready pods (default 10m).
	Timeout *metav1.Duration `json:"timeout,omitempty"`
}

// RunGates run on every cluster around its upgrade.
type RunGates struct {
	Preflight   []GateSpec `json:"preflight,omitempty"`
	PostUpgrade []GateSpec `json:"postUpgrade,omitempty"`
}

// FailurePolicy bounds failures. A failed cluster, or one skipped as
// unreachable, counts against the limits of its group, its stage and the
// run: maxFailedClusters here (of the run's clusters), a stage's and a
// group's. The tightest limit crossed stops the run (no cluster starts
// after it; those under way finish); the others let it go on, and the
// stage's message says which held. Where none of the three is set,
// MaxFailedClustersPerStage applies.
type FailurePolicy struct {
	// MaxFailedClustersPerStage lets a stage go on past this many failed
	// clusters (default 0: the first failure halts the run), where no
	// maxFailedClusters applies.
	MaxFailedClustersPerStage int `json:"maxFailedClustersPerStage,omitempty"`
	// MaxFailedClusters bounds the failed clusters of the whole run: a
	// count or a percentage of its clusters, rounded down.
	MaxFailedClusters *intstr.IntOrString `json:"maxFailedClusters,omitempty"`
	// SkipUnreachable records a cluster whose API server or provider does
	// not answer at its turn (before any of its steps began) as Skipped,
	// with the reason, instead of failing it; it still counts against the
	// limits. upshift retry RUN --skipped upgrades it later.
	SkipUnreachable bool `json:"skipUnreachable,omitempty"`
	// TransientErrorTimeout is how long a step keeps retrying when a
	// cluster's API server or a provider is briefly away (connection
	// refused or reset, timeouts, 429, 5xx) before it fails with the last
	// error (default 5m; a managed control plane is unreachable for a
	// while during its own upgrade).
	TransientErrorTimeout *metav1.Duration `json:"transientErrorTimeout,omitempty"`
}

// Phases of runs, stages, clusters, steps and tasks.
const (
	PhaseNotStarted = "NotStarted"
	PhaseRunning    = "Running"
	PhaseWaiting    = "Waiting"
	PhaseStopped    = "Stopped"
	PhaseSkipped    = "Skipped"
	PhaseFailed     = "Failed"
	PhaseCompleted  = "Completed"
	// PhaseRolledBack: traffic is back on blue after a blue-green switch.
	PhaseRolledBack = "RolledBack"
	// PhaseCancelled: someone ended the run for good (upshift cancel).
	PhaseCancelled = "Cancelled"
)

// Condition types of an UpdateRun. The reason of Ready, Progressing,
// Failed and RolledBack is the run's phase, except where a reason below
// says more.
const (
	ConditionReady       = "Ready"
	ConditionProgressing = "Progressing"
	ConditionFailed      = "Failed"
	ConditionRolledBack  = "RolledBack"
	// ConditionInitialized is False when a hub refused to plan the run.
	ConditionInitialized = "Initialized"

	// ReasonRollbackFailed: the run failed because its rollback did.
	ReasonRollbackFailed = "RollbackFailed"
	// ReasonInvalid: the run cannot be planned as written.
	ReasonInvalid = "Invalid"
)

// UpdateRunStatus is a tree: run → stages → clusters → steps.
type UpdateRunStatus struct {
	Phase string `json:"phase,omitempty"`
	// Progress is "N/M clusters": how many of the run's clusters are done
	// (completed or skipped).
	Progress string `json:"progress,omitempty"`
	// ObservedGeneration is the generation of the spec the driver read.
	ObservedGeneration int64        `json:"observedGeneration,omitempty"`
	Message            string       `json:"message,omitempty"`
	Start              *metav1.Time `json:"startTime,omitempty"`
	End                *metav1.Time `json:"endTime,omitempty"`
	// Strategy is the strategy as it was when the run started.
	Strategy *UpdateStrategySpec `json:"strategySnapshot,omitempty"`
	// NodeImage is the node image chosen when the run started (Latest and
	// Consistent selections), so every cluster gets the same one.
	NodeImage string `json:"nodeImage,omitempty"`
	// Clusters is the fleet frozen when the run started.
	Clusters   []string           `json:"clusters,omitempty"`
	Stages     []StageStatus      `json:"stages,omitempty"`
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// ResumeObserved is the last resume request of an ended run (the
	// annotation upshift.dev/resume-requested) a hub has taken up.
	ResumeObserved string `json:"resumeObserved,omitempty"`
}

// Ended says the run completed, failed, was rolled back or cancelled:
// nothing drives it on unless someone resumes it (a cancelled run cannot
// be resumed).
func (s *UpdateRunStatus) Ended() bool {
	switch s.Phase {
	case PhaseCompleted, PhaseFailed, PhaseRolledBack, PhaseCancelled:
		return true
	}
	return false
}

// StageStatus is one stage's progress.
type StageStatus struct {
	Name        string       `json:"name"`
	Phase       string       `json:"phase"`
	Start       *metav1.Time `json:"startTime,omitempty"`
	End         *metav1.Time `json:"endTime,omitempty"`
	Message     string       `json:"message,omitempty"`
	BeforeTasks []TaskStatus `json:"beforeStageTasks,omitempty"`
	// Clusters are the stage's clusters, in order. A hub keeps each in an
	// UpdateRunMember of the run instead, and ClusterCount says how many:
	// reads through upshift put them back here.
	Clusters []StageClusterStatus `json:"clusters"`
	// ClusterCount is how many of the stage's clusters are kept as
	// UpdateRunMembers (a hub's run); 0 when Clusters holds them.
	ClusterCount int          `json:"clusterCount,omitempty"`
	AfterTasks   []TaskStatus `json:"afterStageTasks,omitempty"`
}

// StageClusterStatus is a cluster's progress in a run.
type StageClusterStatus struct {
	Name    string       `json:"name"`
	Group   string       `json:"group,omitempty"`
	Phase   string       `json:"phase"`
	Start   *metav1.Time `json:"startTime,omitempty"`
	End     *metav1.Time `json:"endTime,omitempty"`
	Message string       `json:"message,omitempty"`
	// Unreachable: the cluster was skipped because it did not answer at
	// its turn (failurePolicy.skipUnreachable).
	Unreachable bool `json:"unreachable,omitempty"`
	// FromVersion is the control plane's version when the cluster started.
	FromVersion string       `json:"fromVersion,omitempty"`
	Steps       []StepStatus `json:"steps,omitempty"`
	// BlueGreen is the blue-green move of this cluster (and the build,
	// sync and retirement of a canary).
	BlueGreen *BlueGreenStatus `json:"blueGreen,omitempty"`
	// Canary is the canary's traffic steps and analysis.
	Canary *CanaryStatus `json:"canary,omitempty"`
}

// TaskStatus is a stage task's progress.
type TaskStatus struct {
	Name       string       `json:"name"`
	Type       string       `json:"type"`
	Phase      string       `json:"phase"`
	Start      *metav1.Time `json:"startTime,omitempty"`
	End        *metav1.Time `json:"endTime,omitempty"`
	Message    string       `json:"message,omitempty"`
	ApprovedBy string       `json:"approvedBy,omitempty"`
	ApprovedAt *metav1.Time `json:"approvedAt,omitempty"`
}

// StepStatus is one step of a cluster's upgrade.
type StepStatus struct {
	// Name is how the step is shown, e.g. "ControlPlane v1.35.2".
	Name string `json:"name"`
	// Kind of step: Preflight, ControlPlane, NodePool, PostUpgrade, or a
	// method's own (T0-Baseline … T4-RetireBlue).
	Kind string `json:"kind,omitempty"`
	// Version a ControlPlane step moves the control plane to.
	Version string `json:"version,omitempty"`
	// Pool a NodePool step replaces.
	Pool string `json:"pool,omitempty"`
	// Index of a step kind a method repeats (a canary's traffic steps,
	// from 1).
	Index    int          `json:"index,omitempty"`
	Phase    string       `json:"phase"`
	Start    *metav1.Time `json:"startTime,omitempty"`
	End      *metav1.Time `json:"endTime,omitempty"`
	Message  string       `json:"message,omitempty"`
	Attempts int          `json:"attempts,omitempty"`
	// Output of a Command gate, truncated.
	Output string `json:"output,omitempty"`
	// GateWaits are when each of the step's waiting gates (Approval,
	// TimedWait) began to wait, and what a check parked between its
	// attempts has failed: a step driven again (resumed, or parked on a
	// hub) counts a soak, an approval's timeout and a check's attempts
	// from them.
	GateWaits []GateWait `json:"gateWaits,omitempty"`
	// NodePool is what a completed NodePool step measured, which
	// upshift plan --simulate predicts later upgrades from.
	NodePool *NodePoolRecord `json:"nodePool,omitempty"`
}

// GateWait is when a step's gate began to wait.
type GateWait struct {
	Gate string `json:"gate"`
	// Since is kept to the microsecond: a soak of seconds counts true.
	// For a check, it is its first attempt.
	Since metav1.MicroTime `json:"since"`
	// Failures are the failed attempts of a check parked between them,
	// and Next when it tries again.
	Failures int               `json:"failures,omitempty"`
	Next     *metav1.MicroTime `json:"next,omitempty"`
}

// NodePoolRecord is what one node pool's upgrade took.
type NodePoolRecord struct {
	// Provider of the cluster (local, aks, exec…).
	Provider string `json:"provider"`
	Replaced int    `json:"replaced"`
	Batches  int    `json:"batches"`
	// NodeReady is the wait for a batch's surge nodes to be Ready, and
	// Drain one node's drain and deletion: their medians and 95th
	// percentiles over the pool's batches and nodes.
	NodeReadyP50 metav1.Duration `json:"nodeReadyP50"`
	NodeReadyP95 metav1.Duration `json:"nodeReadyP95"`
	DrainP50     metav1.Duration `json:"drainP50"`
	DrainP95     metav1.Duration `json:"drainP95"`
}
