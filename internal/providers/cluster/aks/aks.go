package aks

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v6"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"upshift.dev/upshift/internal/azurearm"
	"upshift.dev/upshift/internal/kubeversion"
	"upshift.dev/upshift/internal/nodepool"
	"upshift.dev/upshift/internal/nodes"
	"upshift.dev/upshift/internal/providers/cluster"
	"upshift.dev/upshift/internal/transient"
)

// Provider acts on the managed clusters of one resource group.
type Provider struct {
	Clusters *armcontainerservice.ManagedClustersClient
	Pools    *armcontainerservice.AgentPoolsClient
	// Maintenance reads maintenance configurations, for Describe.
	Maintenance *armcontainerservice.MaintenanceConfigurationsClient
	Group       string
	// Blue is the cluster the provider was opened for: Versions asks for
	// its region, Create copies it.
	Blue string
	// Poll is how often an operation under way is checked, when Azure
	// sends no Retry-After.
	Poll time.Duration
	// Admin reaches API servers with admin credentials; Ingress is the
	// namespace/name of the ingress Service (DefaultIngressService).
	Admin   bool
	Ingress string

	mu   sync.Mutex
	kube map[string]*rest.Config // by cluster name
}

var (
	_ cluster.Provider       = (*Provider)(nil)
	_ cluster.IngressLocator = (*Provider)(nil)
	_ cluster.Aborter        = (*Provider)(nil)
)

// terminal provisioning states: anything else is an operation under way.
var terminal = []string{"Succeeded", "Failed", "Canceled"}

// APIVersion is the AKS REST API version upshift speaks (the one
// armcontainerservice v6.6.0 sends; the emulator answers it alone).
const APIVersion = "2025-02-01"

func v(s string) string {
	if s == "" || strings.HasPrefix(s, "v") {
		return s
	}
	return "v" + s
}

func aksVersion(s string) string { return strings.TrimPrefix(s, "v") }

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// Get reads a managed cluster and its pools.
func (p *Provider) Get(ctx context.Context, name string) (*cluster.Cluster, error) {
	mc, err := p.get(ctx, name)
	if err != nil {
		return nil, err
	}
	props := mc.Properties
	out := &cluster.Cluster{Name: name, KubernetesVersion: v(str(props.CurrentKubernetesVersion)), Stopped: isStopped(mc)}
	if out.KubernetesVersion == "" {
		out.KubernetesVersion = v(str(props.KubernetesVersion))
	}
	for _, ap := range props.AgentPoolProfiles {
		np := cluster.NodePool{Name: str(ap.Name), KubernetesVersion: v(str(ap.CurrentOrchestratorVersion)), NodeImage: str(ap.NodeImageVersion)}
		if np.KubernetesVersion == "" {
			np.KubernetesVersion = v(str(ap.OrchestratorVersion))
		}
		if ap.Count != nil {
			np.Count = int(*ap.Count)
		}
		out.NodePools = append(out.NodePools, np)
	}
	return out, nil
}

func (p *Provider) get(ctx context.Context, name string) (armcontainerservice.ManagedCluster, error) {
	resp, err := p.Clusters.Get(ctx, p.Group, name, nil)
	if err != nil {
		return armcontainerservice.ManagedCluster{}, azureError(fmt.Sprintf("reading managed cluster %s/%s", p.Group, name), err)
	}
	if resp.Properties == nil {
		return armcontainerservice.ManagedCluster{}, fmt.Errorf("managed cluster %s/%s has no properties", p.Group, name)
	}
	return resp.ManagedCluster, nil
}

// Versions lists the Kubernetes versions AKS offers in Blue's region,
// every patch of every minor.
func (p *Provider) Versions(ctx context.Context) ([]kubeversion.Version, error) {
	mc, err := p.get(ctx, p.Blue)
	if err != nil {
		return nil, err
	}
	resp, err := p.Clusters.ListKubernetesVersions(ctx, str(mc.Location), nil)
	if err != nil {
		return nil, azureError("listing Kubernetes versions in "+str(mc.Location), err)
	}
	var out []kubeversion.Version
	for _, kv := range resp.Values {
		for patch := range kv.PatchVersions {
			if pv, err := kubeversion.Parse(patch); err == nil {
				out = append(out, pv)
			}
		}
	}
	slices.SortFunc(out, kubeversion.Version.Compare)
	return out, nil
}

// idle waits until no operation is under way on the cluster and returns it
// as it then is: an operation begun before a crash is waited for, not
// issued again.
func (p *Provider) idle(ctx context.Context, name string) (armcontainerservice.ManagedCluster, error) {
	said := false
	for {
		mc, err := p.get(ctx, name)
		if err != nil {
			return mc, err
		}
		state := str(mc.Properties.ProvisioningState)
		if state == "" || slices.Contains(terminal, state) {
			return mc, nil
		}
		if !said {
			cluster.Progress(ctx, fmt.Sprintf("managed cluster %s is %s: waiting for the operation under way (Azure's, or a person's az aks command; `az aks operation-abort -g %s -n %s` aborts it)", name, state, p.Group, name))
			said = true
		}
		select {
		case <-ctx.Done():
			return mc, ctx.Err()
		case <-time.After(p.poll()):
		}
	}
}

// ready is idle, refusing a cluster whose last operation failed or was
// aborted: an upgrade issued on it would build on a state nobody checked.
func (p *Provider) ready(ctx context.Context, name string) (armcontainerservice.ManagedCluster, error) {
	mc, err := p.idle(ctx, name)
	if err != nil {
		return mc, err
	}
	switch state := str(mc.Properties.ProvisioningState); state {
	case "Failed":
		return mc, transient.MarkPermanent(fmt.Errorf("managed cluster %s/%s is Failed: its last operation failed in Azure. See why in its activity log (az monitor activity-log list -g %s), bring it back with `az aks update -g %s -n %s`, then resume the run", p.Group, name, p.Group, p.Group, name))
	case "Canceled":
		return mc, transient.MarkPermanent(fmt.Errorf("managed cluster %s/%s is Canceled: its last operation was aborted. Bring it back with `az aks update -g %s -n %s`, then resume the run", p.Group, name, p.Group, name))
	}
	if isStopped(mc) {
		return mc, transient.MarkPermanent(fmt.Errorf("managed cluster %s/%s is stopped (powerState Stopped): AKS upgrades only running clusters. Start it with `az aks start -g %s -n %s` and resume the run, or let failurePolicy.skipUnreachable skip it", p.Group, name, p.Group, name))
	}
	return mc, nil
}

// isStopped says whether `az aks stop` stopped the cluster.
func isStopped(mc armcontainerservice.ManagedCluster) bool {
	ps := mc.Properties.PowerState
	return ps != nil && ps.Code != nil && *ps.Code == armcontainerservice.CodeStopped
}

func (p *Provider) poll() time.Duration {
	if p.Poll > 0 {
		return p.Poll
	}
	return 10 * time.Second
}

func (p *Provider) pollOptions() *runtime.PollUntilDoneOptions {
	return &runtime.PollUntilDoneOptions{Frequency: p.poll()}
}

// busy reports a 409 OperationNotAllowed: another operation is under way.
func busy(err error) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusConflict && re.ErrorCode == "OperationNotAllowed"
}

// UpgradeControlPlane moves the control plane (only) to version.
func (p *Provider) UpgradeControlPlane(ctx context.Context, name, version string) error {
	for {
		mc, err := p.ready(ctx, name)
		if err != nil {
			return err
		}
		if v(str(mc.Properties.CurrentKubernetesVersion)) == v(version) {
			return nil
		}
		mc.Properties.KubernetesVersion = to.Ptr(aksVersion(version))
		cluster.Progress(ctx, fmt.Sprintf("asking Azure to upgrade the control plane of %s/%s to %s", p.Group, name, aksVersion(version)))
		poller, err := p.Clusters.BeginCreateOrUpdate(ctx, p.Group, name, mc, nil)
		if busy(err) {
			continue
		}
		if err != nil {
			return azureError(fmt.Sprintf("upgrading the control plane of %s/%s to %s", p.Group, name, version), err)
		}
		if _, err := poller.PollUntilDone(ctx, p.pollOptions()); err != nil {
			return p.ended(ctx, name, fmt.Sprintf("upgrading the control plane of %s/%s to %s", p.Group, name, version), err)
		}
		return nil
	}
}

// checkNewestImage refuses a node-image upgrade to an image other than
// the newest AKS offers the pool: AKS's upgradeNodeImageVersion cannot be
// asked for one image by name, so a Custom image (or a Consistent one
// that is no longer the newest) would not be what the pool gets.
func (p *Provider) checkNewestImage(ctx context.Context, name, pool, want string) error {
	latest, err := p.NewestPoolImage(ctx, name, pool)
	if err != nil {
		return err
	}
	if latest != want {
		return fmt.Errorf("node pool %s of %s/%s: AKS moves a pool only to its newest node image (%s), not to %s: use nodeImageSelection Latest, or the image AKS offers", pool, p.Group, name, latest, want)
	}
	return nil
}

// NewestPoolImage is the node image AKS names for a pool: its upgrade
// profile's latestNodeImageVersion, the one image upgradeNodeImageVersion
// moves it to (nodeimages.PoolSource).
func (p *Provider) NewestPoolImage(ctx context.Context, name, pool string) (string, error) {
	what := fmt.Sprintf("node pool %s of %s/%s", pool, p.Group, name)
	prof, err := p.Pools.GetUpgradeProfile(ctx, p.Group, name, pool, nil)
	if err != nil {
		return "", azureError("reading the upgrade profile of "+what, err)
	}
	latest := ""
	if prof.Properties != nil {
		latest = str(prof.Properties.LatestNodeImageVersion)
	}
	if latest == "" {
		return "", fmt.Errorf("the upgrade profile of %s names no latestNodeImageVersion", what)
	}
	return latest, nil
}

// UpgradeNodePool upgrades a pool with AKS's upgradeSettings: to a
// Kubernetes version (its orchestratorVersion), or to the newest node
// image when only an image is asked for.
func (p *Provider) UpgradeNodePool(ctx context.Context, name, pool string, up cluster.NodePoolUpgrade) (nodepool.Result, error) {
	start := time.Now()
	what := fmt.Sprintf("node pool %s of %s/%s", pool, p.Group, name)
	for {
		if _, err := p.ready(ctx, name); err != nil {
			return nodepool.Result{}, err
		}
		resp, err := p.Pools.Get(ctx, p.Group, name, pool, nil)
		if err != nil {
			return nodepool.Result{}, azureError("reading "+what, err)
		}
		ap := resp.AgentPool
		if ap.Properties == nil {
			return nodepool.Result{}, fmt.Errorf("%s has no properties", what)
		}
		count := 0
		if ap.Properties.Count != nil {
			count = int(*ap.Properties.Count)
		}
		imageOnly := up.KubernetesVersion == ""
		if imageOnly && up.NodeImage == "" {
			// No image chosen (no catalogue in the fleet): the newest AKS
			// names for the pool, never "already there".
			if up.NodeImage, err = p.NewestPoolImage(ctx, name, pool); err != nil {
				return nodepool.Result{}, err
			}
		}
		done := sameVersion(str(ap.Properties.CurrentOrchestratorVersion), up.KubernetesVersion)
		if imageOnly {
			done = up.NodeImage == "" || str(ap.Properties.NodeImageVersion) == up.NodeImage
		}
		if done {
			// Azure's record says what was asked of the pool; after an
			// operation aborted or failed part-way, only its nodes say
			// whether it runs there.
			behind, err := p.nodesBehind(ctx, name, pool, up)
			if err != nil || len(behind) == 0 {
				return nodepool.Result{Duration: time.Since(start)}, nil
			}
			cluster.Progress(ctx, fmt.Sprintf("%s is at the target in Azure's record, but its nodes %s are not (an operation aborted or failed part-way): asking Azure again", what, strings.Join(behind, ", ")))
		}
		settings := &armcontainerservice.AgentPoolUpgradeSettings{}
		if up.MaxSurge.String() != "0" && up.MaxSurge.String() != "" {
			settings.MaxSurge = to.Ptr(up.MaxSurge.String())
		}
		if up.DrainTimeout > 0 {
			settings.DrainTimeoutInMinutes = to.Ptr(int32(math.Ceil(up.DrainTimeout.Minutes())))
		}
		if up.Soak > 0 {
			settings.NodeSoakDurationInMinutes = to.Ptr(int32(math.Ceil(up.Soak.Minutes())))
		}
		ap.Properties.UpgradeSettings = settings
		if imageOnly {
			if err := p.checkNewestImage(ctx, name, pool, up.NodeImage); err != nil {
				return nodepool.Result{}, err
			}
			// upgradeNodeImageVersion takes the pool's stored
			// upgradeSettings: store the run's first (a PUT that changes
			// no version is a quick update).
			setPoller, err := p.Pools.BeginCreateOrUpdate(ctx, p.Group, name, pool, ap, nil)
			if busy(err) {
				continue
			}
			if err == nil {
				_, err = setPoller.PollUntilDone(ctx, p.pollOptions())
			}
			if err != nil {
				return nodepool.Result{}, azureError("setting the upgradeSettings of "+what, err)
			}
			// AKS moves a pool to the newest image of its OS; it cannot be
			// asked for one image by name.
			cluster.Progress(ctx, fmt.Sprintf("asking Azure to move %s to its newest node image (maxSurge %s, drain timeout %s, soak %s)", what, str(settings.MaxSurge), drainTimeoutText(settings), soakText(settings)))
			poller, err := p.Pools.BeginUpgradeNodeImageVersion(ctx, p.Group, name, pool, nil)
			if busy(err) {
				continue
			}
			if err == nil {
				_, err = poller.PollUntilDone(ctx, p.pollOptions())
			}
			if err != nil {
				return nodepool.Result{}, p.ended(ctx, name, "upgrading the node image of "+what, err)
			}
		} else {
			ap.Properties.OrchestratorVersion = to.Ptr(aksVersion(up.KubernetesVersion))
			cluster.Progress(ctx, fmt.Sprintf("asking Azure to upgrade %s to %s (maxSurge %s, drain timeout %s, soak %s)", what, aksVersion(up.KubernetesVersion), str(settings.MaxSurge), drainTimeoutText(settings), soakText(settings)))
			poller, err := p.Pools.BeginCreateOrUpdate(ctx, p.Group, name, pool, ap, nil)
			if busy(err) {
				continue
			}
			if err == nil {
				_, err = poller.PollUntilDone(ctx, p.pollOptions())
			}
			if err != nil {
				return nodepool.Result{}, p.ended(ctx, name, fmt.Sprintf("upgrading %s to %s", what, up.KubernetesVersion), err)
			}
		}
		surge, _ := intstr.GetScaledValueFromIntOrPercent(&up.MaxSurge, count, true)
		batches := count
		if surge > 0 {
			batches = (count + surge - 1) / surge
		}
		return nodepool.Result{Replaced: count, Batches: batches, Duration: time.Since(start)}, nil
	}
}

// nodesBehind names the pool's nodes not at the upgrade's target, read
// from the cluster's API server.
func (p *Provider) nodesBehind(ctx context.Context, name, pool string, up cluster.NodePoolUpgrade) ([]string, error) {
	want, err := p.PoolNodes(ctx, name, pool, up)
	if err != nil {
		return nil, err
	}
	cfg, err := p.restConfig(ctx, name)
	if err != nil {
		return nil, err
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return nodes.Behind(ctx, client, want.Selector, want.KubeletVersion, want.Labels)
}

// sameVersion compares an AKS version with a target that may be a minor
// (1.35) or a patch (v1.35.4).
func sameVersion(current, target string) bool {
	c, err := kubeversion.Parse(current)
	if err != nil {
		return false
	}
	t, err := kubeversion.Parse(target)
	if err != nil {
		return false
	}
	return t.Matches(c)
}

// Create makes green from Blue's ManagedCluster: the same settings and
// pools (counts from spec), at spec's version, under spec's name. A create
// cut short is waited for, or issued again with the same body.
func (p *Provider) Create(ctx context.Context, spec cluster.Spec) (*cluster.Cluster, error) {
	for {
		if _, err := p.idle(ctx, spec.Name); err == nil {
			if got, err := p.Get(ctx, spec.Name); err == nil && sameVersion(got.KubernetesVersion, spec.KubernetesVersion) {
				return got, nil
			}
		}
		blue, err := p.get(ctx, p.Blue)
		if err != nil {
			return nil, err
		}
		green := armcontainerservice.ManagedCluster{Location: blue.Location, Tags: blue.Tags, SKU: blue.SKU, Identity: blue.Identity}
		props := *blue.Properties
		props.KubernetesVersion = to.Ptr(aksVersion(spec.KubernetesVersion))
		props.CurrentKubernetesVersion, props.ProvisioningState, props.Fqdn, props.PowerState = nil, nil, nil, nil
		props.DNSPrefix = to.Ptr(spec.Name)
		props.AgentPoolProfiles = nil
		for _, want := range spec.NodePools {
			var ap armcontainerservice.ManagedClusterAgentPoolProfile
			for _, b := range blue.Properties.AgentPoolProfiles {
				if str(b.Name) == want.Name {
					ap = *b
				}
			}
			ap.Name, ap.Count = to.Ptr(want.Name), to.Ptr(int32(want.Count))
			ap.OrchestratorVersion = to.Ptr(aksVersion(spec.KubernetesVersion))
			ap.CurrentOrchestratorVersion, ap.NodeImageVersion, ap.ProvisioningState, ap.PowerState, ap.ETag = nil, nil, nil, nil, nil
			props.AgentPoolProfiles = append(props.AgentPoolProfiles, &ap)
		}
		green.Properties = &props
		poller, err := p.Clusters.BeginCreateOrUpdate(ctx, p.Group, spec.Name, green, nil)
		if busy(err) {
			continue
		}
		if err == nil {
			_, err = poller.PollUntilDone(ctx, p.pollOptions())
		}
		if err != nil {
			return nil, azureError(fmt.Sprintf("creating managed cluster %s/%s from %s", p.Group, spec.Name, p.Blue), err)
		}
		return p.Get(ctx, spec.Name)
	}
}

// Delete removes a managed cluster; one that is gone is not an error.
func (p *Provider) Delete(ctx context.Context, name string) error {
	for {
		poller, err := p.Clusters.BeginDelete(ctx, p.Group, name, nil)
		if busy(err) {
			if _, err := p.idle(ctx, name); err != nil {
				return err
			}
			continue
		}
		if err == nil {
			_, err = poller.PollUntilDone(ctx, p.pollOptions())
		}
		var re *azcore.ResponseError
		if errors.As(err, &re) && re.StatusCode == http.StatusNotFound {
			return nil
		}
		if err != nil {
			return azureError(fmt.Sprintf("deleting managed cluster %s/%s", p.Group, name), err)
		}
		return nil
	}
}

// ended is the error of an operation that ended without succeeding: one
// that was aborted in Azure (the cluster is Canceling or Canceled) is
// cluster.ErrAborted, not a failure of the upgrade.
func (p *Provider) ended(ctx context.Context, name, what string, err error) error {
	if ctx.Err() == nil {
		if mc, getErr := p.get(ctx, name); getErr == nil {
			if state := str(mc.Properties.ProvisioningState); state == "Canceling" || state == "Canceled" {
				return transient.MarkPermanent(fmt.Errorf("%s: %w (managed cluster %s/%s is %s)", what, cluster.ErrAborted, p.Group, name, state))
			}
		}
	}
	return azureError(what, err)
}

// AbortOperation aborts the operation under way on a managed cluster, or
// on one of its pools, with AKS's abort of the latest operation, and
// waits until Azure has ended it. The cluster is then Canceled: a run
// goes on only once its owners have looked at it (`az aks update`).
func (p *Provider) AbortOperation(ctx context.Context, name string) (string, error) {
	mc, err := p.get(ctx, name)
	if err != nil {
		return "", err
	}
	underway := func(state *string) bool { return state != nil && *state != "" && !slices.Contains(terminal, *state) }
	pool := ""
	for _, ap := range mc.Properties.AgentPoolProfiles {
		if underway(ap.ProvisioningState) {
			pool = str(ap.Name)
		}
	}
	state := str(mc.Properties.ProvisioningState)
	if !underway(mc.Properties.ProvisioningState) && pool == "" {
		return "", nil
	}
	what := fmt.Sprintf("the %s operation of managed cluster %s/%s", state, p.Group, name)
	var done func() error
	if pool != "" {
		what = fmt.Sprintf("the operation under way on node pool %s of managed cluster %s/%s", pool, p.Group, name)
		poller, err := p.Pools.BeginAbortLatestOperation(ctx, p.Group, name, pool, nil)
		if err != nil {
			return "", azureError("aborting "+what, err)
		}
		done = func() error { _, err := poller.PollUntilDone(ctx, p.pollOptions()); return err }
	} else {
		poller, err := p.Clusters.BeginAbortLatestOperation(ctx, p.Group, name, nil)
		if err != nil {
			return "", azureError("aborting "+what, err)
		}
		done = func() error { _, err := poller.PollUntilDone(ctx, p.pollOptions()); return err }
	}
	if err := done(); err != nil {
		return "", azureError("aborting "+what, err)
	}
	return fmt.Sprintf("aborted %s in Azure; it is Canceled: check it, bring it back with `az aks update -g %s -n %s`, then resume the run", what, p.Group, name), nil
}

// azureError says what Azure said in one line (azurearm.Error).
func azureError(what string, err error) error {
	return azurearm.Error(what, "spec.aks.armEndpoint", err)
}

// drainTimeoutText is the drain timeout Azure will apply: the run's, or
// AKS's own default when the run sets none (it was shown as "0m").
func drainTimeoutText(s *armcontainerservice.AgentPoolUpgradeSettings) string {
	if s.DrainTimeoutInMinutes == nil {
		// AKS applies its own default, which is upshift's.
		return fmt.Sprintf("%dm (AKS's default)", int(nodepool.DefaultDrainTimeout.Minutes()))
	}
	return fmt.Sprintf("%dm", *s.DrainTimeoutInMinutes)
}

func soakText(s *armcontainerservice.AgentPoolUpgradeSettings) string {
	return fmt.Sprintf("%dm", i32(s.NodeSoakDurationInMinutes))
}

// The labels AKS puts on each node: its pool, and its node image.
const (
	labelAgentPool        = "kubernetes.azure.com/agentpool"
	labelNodeImageVersion = "kubernetes.azure.com/node-image-version"
)

// PoolNodes finds a pool's nodes by the label AKS puts on them. A node at
// the target reports the newest patch Azure offers of the target version
// (the one AKS moves a minor to), or, for a node-image upgrade, carries
// the target image. The replay drains in upshift's order and batches of
// maxSurge; AKS's own order is not published.
func (p *Provider) PoolNodes(ctx context.Context, name, pool string, up cluster.NodePoolUpgrade) (cluster.PoolNodes, error) {
	out := cluster.PoolNodes{Selector: labelAgentPool + "=" + pool, Labels: map[string]string{}}
	if up.NodeImage != "" {
		out.Labels[labelNodeImageVersion] = up.NodeImage
	}
	if up.KubernetesVersion == "" {
		return out, nil
	}
	want, err := kubeversion.Parse(up.KubernetesVersion)
	if err != nil {
		return out, err
	}
	versions, err := p.Versions(ctx)
	if err != nil {
		return out, err
	}
	for _, v := range versions {
		if want.Matches(v) {
			out.KubeletVersion = v.String()
		}
	}
	if out.KubeletVersion == "" {
		return out, fmt.Errorf("no version %s is offered by Azure for %s", up.KubernetesVersion, name)
	}
	return out, nil
}
