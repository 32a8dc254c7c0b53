package azureemu

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v6"
	"k8s.io/apimachinery/pkg/util/intstr"

	"upshift.dev/upshift/internal/kubeversion"
	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/names"
	"upshift.dev/upshift/internal/providers/cluster"
	"upshift.dev/upshift/internal/providers/cluster/local"
	"upshift.dev/upshift/internal/toolchain"
)

// AdoptGroup is the resource group in which the local fleet's clusters
// appear as managed clusters without being created through the API.
const AdoptGroup = "upshift-local"

const resourceType = "Microsoft.ContainerService/ManagedClusters"

// aks writes a Kubernetes version as AKS does: 1.34.4, no "v".
func aks(v string) string { return strings.TrimPrefix(v, "v") }

func (s *Server) provider() *local.Provider { return local.New(s.Fleet) }

// adopt makes a local cluster a managed cluster of AdoptGroup (s.mu held).
func (s *Server) adopt(ctx context.Context, group, name string) (*managed, *armError) {
	if !strings.EqualFold(group, AdoptGroup) {
		return nil, notFound(group, name)
	}
	got, err := s.provider().Get(ctx, name)
	if err != nil {
		return nil, notFound(group, name)
	}
	m := &managed{group: AdoptGroup, mc: armcontainerservice.ManagedCluster{
		ID: to.Ptr(s.resourceID(AdoptGroup, got.Name)), Name: to.Ptr(got.Name), Type: to.Ptr(resourceType), Location: to.Ptr(Location),
		Properties: &armcontainerservice.ManagedClusterProperties{
			KubernetesVersion: to.Ptr(aks(got.KubernetesVersion)), DNSPrefix: to.Ptr(got.Name), ProvisioningState: to.Ptr(statusSucceeded),
		},
	}}
	for _, p := range got.NodePools {
		m.mc.Properties.AgentPoolProfiles = append(m.mc.Properties.AgentPoolProfiles, &armcontainerservice.ManagedClusterAgentPoolProfile{
			Name: to.Ptr(p.Name), Count: to.Ptr(int32(p.Count)), OrchestratorVersion: to.Ptr(aks(p.KubernetesVersion)), Mode: to.Ptr(armcontainerservice.AgentPoolModeUser),
		})
	}
	s.clusters[key(AdoptGroup, got.Name)] = m
	s.publishIngressOf(got.Name)
	return m, nil
}

// find looks a cluster up, adopting a local cluster of AdoptGroup.
func (s *Server) find(ctx context.Context, group, name string) (*managed, *armError) {
	if m, ok := s.clusters[key(group, name)]; ok {
		return m, nil
	}
	return s.adopt(ctx, group, name)
}

// found finds a handler's cluster (s.mu held); when there is none it
// answers the error itself.
func (s *Server) found(w http.ResponseWriter, r *http.Request, group, name string) (*managed, bool) {
	m, aerr := s.find(r.Context(), group, name)
	if aerr != nil {
		writeError(w, aerr)
		return nil, false
	}
	return m, true
}

// idle is found for a handler that starts an operation: one under way
// answers 409 OperationNotAllowed.
func (s *Server) idle(w http.ResponseWriter, r *http.Request, group, name string) (*managed, bool) {
	m, ok := s.found(w, r, group, name)
	if ok && m.busy != "" {
		writeError(w, busy(m))
		return nil, false
	}
	if ok && m.stopped {
		writeError(w, stopped(m))
		return nil, false
	}
	return m, ok
}

// stopped is AKS's refusal of an operation on a stopped cluster (worded
// as its refusal to stop one twice).
func stopped(m *managed) *armError {
	return errorf(http.StatusConflict, "OperationNotAllowed", "Operation is not allowed: managed cluster %s is in Provisioning State(%s) and Power State(Stopped), the operation cannot be performed. Start the cluster first.", *m.mc.Name, provisioning(m))
}

func provisioning(m *managed) string {
	if p := m.mc.Properties.ProvisioningState; p != nil {
		return *p
	}
	return statusSucceeded
}

// power stops or starts a cluster (POST …/stop, …/start): 202 and an
// operation, as AKS answers; stopping a stopped cluster is refused.
func (s *Server) power(w http.ResponseWriter, r *http.Request, group, name string, stop bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.found(w, r, group, name)
	if !ok {
		return
	}
	if m.busy != "" {
		writeError(w, busy(m))
		return
	}
	if stop && m.stopped {
		writeError(w, errorf(http.StatusConflict, "OperationNotAllowed", "managed cluster is in Provisioning State(%s) and Power State(Stopped), stopping cannot be performed", provisioning(m)))
		return
	}
	state, what := "Starting", "start"
	if stop {
		state, what = "Stopping", "stop"
	}
	s.start(w, r, m, state, what, http.StatusAccepted, func() any { return nil }, nil, func(context.Context) error {
		s.mu.Lock()
		defer s.mu.Unlock()
		m.stopped = stop
		return nil
	})
}

// view is the cluster as GET answers: stored settings, with what the
// local cluster really runs (s.mu held).
func (s *Server) view(ctx context.Context, m *managed) armcontainerservice.ManagedCluster {
	out := m.mc
	props := *m.mc.Properties
	out.Properties = &props
	props.AgentPoolProfiles = nil
	got, err := s.provider().Get(ctx, *m.mc.Name)
	if err == nil {
		props.CurrentKubernetesVersion = to.Ptr(aks(got.KubernetesVersion))
	}
	power := armcontainerservice.CodeRunning
	if m.stopped {
		power = armcontainerservice.CodeStopped
	}
	props.PowerState = &armcontainerservice.PowerState{Code: to.Ptr(power)}
	for _, p := range m.mc.Properties.AgentPoolProfiles {
		cp := *p
		if err == nil {
			for _, np := range got.NodePools {
				if np.Name == *p.Name {
					cp.Count = to.Ptr(int32(np.Count))
					cp.CurrentOrchestratorVersion = to.Ptr(aks(np.KubernetesVersion))
					cp.NodeImageVersion = to.Ptr(np.NodeImage)
				}
			}
		}
		cp.ProvisioningState, cp.PowerState = props.ProvisioningState, props.PowerState
		props.AgentPoolProfiles = append(props.AgentPoolProfiles, &cp)
	}
	return out
}

func (s *Server) getCluster(w http.ResponseWriter, r *http.Request, group, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, ok := s.found(w, r, group, name); ok {
		writeJSON(w, http.StatusOK, s.view(r.Context(), m))
	}
}

func readBody(r *http.Request, into any) *armError {
	data, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err != nil {
		return errorf(http.StatusBadRequest, "InvalidRequestContent", "%v", err)
	}
	if err := json.Unmarshal(data, into); err != nil {
		return errorf(http.StatusBadRequest, "InvalidRequestContent", "The request content was invalid and could not be deserialized: %v", err)
	}
	return nil
}

// resolve turns an AKS version (1.34 or 1.34.4) into a local release.
func resolve(v string) (toolchain.Release, *armError) {
	r, err := toolchain.ResolveKubernetesVersion(v)
	if err != nil {
		return r, errorf(http.StatusBadRequest, "K8sVersionNotSupported", "Version %s is not supported in this region: %v", v, err)
	}
	return r, nil
}

func busy(m *managed) *armError {
	return errorf(http.StatusConflict, "OperationNotAllowed", "Operation is not allowed because there's an in progress operation (%s) on the managed cluster %s. Please wait until it completes.", m.busy, *m.mc.Name)
}

func (s *Server) putCluster(w http.ResponseWriter, r *http.Request, group, name string) {
	var want armcontainerservice.ManagedCluster
	if err := readBody(r, &want); err != nil {
		writeError(w, err)
		return
	}
	if want.Properties == nil || want.Properties.KubernetesVersion == nil {
		writeError(w, errorf(http.StatusBadRequest, "InvalidParameter", "properties.kubernetesVersion is required"))
		return
	}
	target, aerr := resolve(*want.Properties.KubernetesVersion)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, aerr := s.find(r.Context(), group, name)
	if aerr != nil && aerr.status != http.StatusNotFound {
		writeError(w, aerr)
		return
	}
	if m == nil {
		s.create(w, r, group, name, want, target)
		return
	}
	if m.busy != "" {
		writeError(w, busy(m))
		return
	}
	if m.stopped {
		writeError(w, stopped(m))
		return
	}
	s.update(w, r, m, want, target)
}

func (s *Server) create(w http.ResponseWriter, r *http.Request, group, name string, want armcontainerservice.ManagedCluster, target toolchain.Release) {
	if err := names.Label("managed cluster", name); err != nil {
		writeError(w, errorf(http.StatusBadRequest, "InvalidParameter", "the emulator backs each managed cluster with a local cluster of the same name: %v", err))
		return
	}
	if _, err := s.Fleet.Get(name); err == nil {
		writeError(w, errorf(http.StatusConflict, "Conflict", "a local cluster %s exists already, outside resource group %s", name, group))
		return
	}
	spec := localfleet.Spec{Name: name, KubernetesVersion: target.Minor}
	for _, p := range want.Properties.AgentPoolProfiles {
		if p == nil || p.Name == nil || p.Count == nil || *p.Count < 1 {
			writeError(w, errorf(http.StatusBadRequest, "InvalidParameter", "every agentPoolProfiles entry needs a name and a count of at least 1"))
			return
		}
		spec.NodePools = append(spec.NodePools, localfleet.PoolSpec{Name: *p.Name, Count: int(*p.Count)})
		p.OrchestratorVersion = to.Ptr(aks(target.Version))
	}
	if len(spec.NodePools) == 0 {
		writeError(w, errorf(http.StatusBadRequest, "InvalidParameter", "properties.agentPoolProfiles: a managed cluster needs at least one agent pool"))
		return
	}
	if err := spec.Validate(); err != nil {
		writeError(w, errorf(http.StatusBadRequest, "InvalidParameter", "%v", err))
		return
	}
	m := &managed{group: group, mc: want}
	m.mc.ID, m.mc.Name, m.mc.Type, m.mc.Location = to.Ptr(s.resourceID(group, name)), to.Ptr(name), to.Ptr(resourceType), to.Ptr(Location)
	m.mc.Properties.KubernetesVersion = to.Ptr(aks(target.Version))
	if m.mc.Properties.DNSPrefix == nil {
		m.mc.Properties.DNSPrefix = to.Ptr(name)
	}
	s.clusters[key(group, name)] = m
	s.start(w, r, m, "Creating", "create", http.StatusCreated, func() any { return m.mc }, nil, func(ctx context.Context) error {
		if _, err := s.Fleet.Up(ctx, spec); err != nil {
			return err
		}
		s.publishIngressOf(name)
		return nil
	})
}

// update applies a PUT to an existing cluster: a new kubernetesVersion is
// a control-plane upgrade, a pool profile with a new orchestratorVersion
// a pool upgrade after it.
func (s *Server) update(w http.ResponseWriter, r *http.Request, m *managed, want armcontainerservice.ManagedCluster, target toolchain.Release) {
	name := *m.mc.Name
	got, err := s.provider().Get(r.Context(), name)
	if err != nil {
		writeError(w, errorf(http.StatusInternalServerError, "InternalServerError", "reading local cluster %s: %v", name, err))
		return
	}
	current, _ := kubeversion.Parse(got.KubernetesVersion)
	next, _ := kubeversion.Parse(target.Version)
	upgradeCP := current.Compare(next) != 0
	if upgradeCP {
		if err := kubeversion.CheckControlPlaneUpgrade(current, next); err != nil {
			writeError(w, errorf(http.StatusBadRequest, "UpgradeFailed", "upgrading %s from %s to %s: %v", name, aks(got.KubernetesVersion), aks(target.Version), err))
			return
		}
	}
	type poolUp struct {
		name string
		up   cluster.NodePoolUpgrade
	}
	var pools []poolUp
	for _, p := range want.Properties.AgentPoolProfiles {
		if p == nil || p.Name == nil {
			continue
		}
		stored := findProfile(m.mc.Properties.AgentPoolProfiles, *p.Name)
		if stored == nil {
			writeError(w, errorf(http.StatusBadRequest, "InvalidParameter", "agent pool %s does not exist; the emulator does not add pools", *p.Name))
			return
		}
		if p.OrchestratorVersion != nil && aks(*p.OrchestratorVersion) != aks(*stored.OrchestratorVersion) {
			pv, aerr := resolve(*p.OrchestratorVersion)
			if aerr != nil {
				writeError(w, aerr)
				return
			}
			up, aerr := poolUpgrade(p.UpgradeSettings)
			if aerr != nil {
				writeError(w, aerr)
				return
			}
			up.KubernetesVersion = pv.Minor
			pools = append(pools, poolUp{*p.Name, up})
			stored.OrchestratorVersion = to.Ptr(aks(pv.Version))
		}
		if p.UpgradeSettings != nil {
			stored.UpgradeSettings = p.UpgradeSettings
		}
	}
	m.mc.Properties.KubernetesVersion = to.Ptr(aks(target.Version))
	m.mc.Tags = want.Tags
	if !upgradeCP && len(pools) == 0 {
		if state := m.mc.Properties.ProvisioningState; state != nil && (*state == statusFailed || *state == stateCanceled) {
			// az aks update: a PUT that changes nothing reconciles a
			// cluster whose last operation failed or was aborted.
			s.start(w, r, m, "Updating", "reconcile", http.StatusOK, func() any { return m.mc }, nil, func(context.Context) error { return nil })
			return
		}
		writeJSON(w, http.StatusOK, s.view(r.Context(), m))
		return
	}
	s.start(w, r, m, "Upgrading", "upgrade", http.StatusOK, func() any { return m.mc }, nil, func(ctx context.Context) error {
		if upgradeCP {
			if err := s.Fleet.UpgradeControlPlane(ctx, name, target.Minor); err != nil {
				return err
			}
		}
		for _, p := range pools {
			if _, err := s.provider().UpgradeNodePool(ctx, name, p.name, p.up); err != nil {
				return err
			}
		}
		return nil
	})
}

func findProfile(list []*armcontainerservice.ManagedClusterAgentPoolProfile, name string) *armcontainerservice.ManagedClusterAgentPoolProfile {
	for _, p := range list {
		if p != nil && p.Name != nil && strings.EqualFold(*p.Name, name) {
			return p
		}
	}
	return nil
}

// poolUpgrade reads AKS's upgradeSettings.
func poolUpgrade(u *armcontainerservice.AgentPoolUpgradeSettings) (cluster.NodePoolUpgrade, *armError) {
	var up cluster.NodePoolUpgrade
	if u == nil {
		return up, nil
	}
	if u.MaxSurge != nil && *u.MaxSurge != "" {
		up.MaxSurge = intstr.Parse(*u.MaxSurge)
		if _, err := intstr.GetScaledValueFromIntOrPercent(&up.MaxSurge, 100, true); err != nil {
			return up, errorf(http.StatusBadRequest, "InvalidParameter", "upgradeSettings.maxSurge %q: %v", *u.MaxSurge, err)
		}
	}
	if u.DrainTimeoutInMinutes != nil {
		up.DrainTimeout = time.Duration(*u.DrainTimeoutInMinutes) * time.Minute
	}
	if u.NodeSoakDurationInMinutes != nil {
		up.Soak = time.Duration(*u.NodeSoakDurationInMinutes) * time.Minute
	}
	return up, nil
}

func (s *Server) deleteCluster(w http.ResponseWriter, r *http.Request, group, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, aerr := s.find(r.Context(), group, name)
	if aerr != nil {
		if aerr.status == http.StatusNotFound {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		writeError(w, aerr)
		return
	}
	if m.busy != "" {
		writeError(w, busy(m))
		return
	}
	s.start(w, r, m, "Deleting", "delete", http.StatusAccepted, func() any { return nil }, nil, func(context.Context) error {
		err := s.Fleet.Down(name)
		if errors.Is(err, localfleet.ErrNotFound) {
			err = nil
		}
		if err == nil {
			s.mu.Lock()
			delete(s.clusters, key(group, name))
			s.mu.Unlock()
		}
		return err
	})
}

func (s *Server) upgradeProfile(w http.ResponseWriter, r *http.Request, group, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.found(w, r, group, name)
	if !ok {
		return
	}
	v := s.view(r.Context(), m)
	current := aks(*v.Properties.KubernetesVersion)
	if v.Properties.CurrentKubernetesVersion != nil {
		current = *v.Properties.CurrentKubernetesVersion
	}
	cp := &armcontainerservice.ManagedClusterPoolUpgradeProfile{KubernetesVersion: to.Ptr(current), OSType: to.Ptr(armcontainerservice.OSTypeLinux), Upgrades: upgradesFrom(current)}
	prof := armcontainerservice.ManagedClusterUpgradeProfile{
		ID: to.Ptr(*m.mc.ID + "/upgradeprofiles/default"), Name: to.Ptr("default"), Type: to.Ptr(resourceType + "/upgradeprofiles"),
		Properties: &armcontainerservice.ManagedClusterUpgradeProfileProperties{ControlPlaneProfile: cp},
	}
	for _, p := range v.Properties.AgentPoolProfiles {
		pv := current
		if p.CurrentOrchestratorVersion != nil {
			pv = *p.CurrentOrchestratorVersion
		}
		prof.Properties.AgentPoolProfiles = append(prof.Properties.AgentPoolProfiles, &armcontainerservice.ManagedClusterPoolUpgradeProfile{
			Name: p.Name, KubernetesVersion: to.Ptr(pv), OSType: to.Ptr(armcontainerservice.OSTypeLinux), Upgrades: upgradesFrom(pv)})
	}
	writeJSON(w, http.StatusOK, prof)
}

// upgradesFrom lists the releases a control plane at v may move to: the
// same minor's newer patches and the next minor's.
func upgradesFrom(v string) []*armcontainerservice.ManagedClusterPoolUpgradeProfileUpgradesItem {
	cur, err := kubeversion.Parse(v)
	if err != nil {
		return nil
	}
	out := []*armcontainerservice.ManagedClusterPoolUpgradeProfileUpgradesItem{}
	for _, r := range toolchain.Versions(toolchain.Releases) {
		if r.Compare(cur) > 0 && kubeversion.CheckControlPlaneUpgrade(cur, r) == nil {
			out = append(out, &armcontainerservice.ManagedClusterPoolUpgradeProfileUpgradesItem{KubernetesVersion: to.Ptr(aks(r.String()))})
		}
	}
	return out
}

func (s *Server) kubernetesVersions(w http.ResponseWriter, _ *http.Request) {
	var list armcontainerservice.KubernetesVersionListResult
	for _, r := range toolchain.Versions(toolchain.Releases) {
		patch := aks(r.String())
		up := upgradesFrom(patch)
		var ups []*string
		for _, u := range up {
			ups = append(ups, u.KubernetesVersion)
		}
		list.Values = append(list.Values, &armcontainerservice.KubernetesVersion{
			Version: to.Ptr(r.MinorString()), PatchVersions: map[string]*armcontainerservice.KubernetesPatchVersion{patch: {Upgrades: ups}},
		})
	}
	writeJSON(w, http.StatusOK, list)
}

// credentials answers list*Credential with the local cluster's kubeconfig.
func (s *Server) credentials(w http.ResponseWriter, r *http.Request, group, name string) {
	s.mu.Lock()
	m, ok := s.found(w, r, group, name)
	s.mu.Unlock()
	if !ok {
		return
	}
	c, err := s.Fleet.Get(*m.mc.Name)
	if err != nil {
		writeError(w, errorf(http.StatusConflict, "ClusterNotReady", "the cluster has no credentials yet: %v", err))
		return
	}
	data, err := os.ReadFile(c.KubeconfigPath())
	if err != nil {
		writeError(w, errorf(http.StatusConflict, "ClusterNotReady", "the cluster has no credentials yet: %v", err))
		return
	}
	writeJSON(w, http.StatusOK, armcontainerservice.CredentialResults{Kubeconfigs: []*armcontainerservice.CredentialResult{{Name: to.Ptr("clusterUser"), Value: data}}})
}
