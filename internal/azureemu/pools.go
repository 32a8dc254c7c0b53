package azureemu

import (
	"context"
	"net/http"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v6"

	"upshift.dev/upshift/internal/nodeimages"
	"upshift.dev/upshift/internal/nodes"
	"upshift.dev/upshift/internal/providers/cluster"
)

// poolView is an agent pool as GET answers (s.mu held).
func (s *Server) poolView(ctx context.Context, m *managed, name string) (armcontainerservice.AgentPool, *armError) {
	v := s.view(ctx, m)
	p := findProfile(v.Properties.AgentPoolProfiles, name)
	if p == nil {
		return armcontainerservice.AgentPool{}, errorf(http.StatusNotFound, "NotFound", "The agent pool '%s' of managed cluster '%s' was not found.", name, *m.mc.Name)
	}
	return armcontainerservice.AgentPool{
		ID: to.Ptr(*m.mc.ID + "/agentPools/" + *p.Name), Name: p.Name, Type: to.Ptr(resourceType + "/agentPools"),
		Properties: &armcontainerservice.ManagedClusterAgentPoolProfileProperties{
			Count: p.Count, OrchestratorVersion: p.OrchestratorVersion, CurrentOrchestratorVersion: p.CurrentOrchestratorVersion,
			NodeImageVersion: p.NodeImageVersion, UpgradeSettings: p.UpgradeSettings, ProvisioningState: p.ProvisioningState, Mode: p.Mode,
		},
	}, nil
}

func (s *Server) listPools(w http.ResponseWriter, r *http.Request, group, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.found(w, r, group, name)
	if !ok {
		return
	}
	list := armcontainerservice.AgentPoolListResult{Value: []*armcontainerservice.AgentPool{}}
	for _, p := range m.mc.Properties.AgentPoolProfiles {
		if pv, err := s.poolView(r.Context(), m, *p.Name); err == nil {
			list.Value = append(list.Value, &pv)
		}
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) getPool(w http.ResponseWriter, r *http.Request, group, name, pool string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.found(w, r, group, name)
	if !ok {
		return
	}
	pv, aerr := s.poolView(r.Context(), m, pool)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	writeJSON(w, http.StatusOK, pv)
}

// putPool upgrades a pool to a new orchestratorVersion with its
// upgradeSettings (maxSurge, drainTimeoutInMinutes,
// nodeSoakDurationInMinutes).
func (s *Server) putPool(w http.ResponseWriter, r *http.Request, group, name, pool string) {
	var want armcontainerservice.AgentPool
	if err := readBody(r, &want); err != nil {
		writeError(w, err)
		return
	}
	if want.Properties == nil {
		writeError(w, errorf(http.StatusBadRequest, "InvalidParameter", "properties is required"))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.idle(w, r, group, name)
	if !ok {
		return
	}
	stored := findProfile(m.mc.Properties.AgentPoolProfiles, pool)
	if stored == nil {
		writeError(w, errorf(http.StatusBadRequest, "InvalidParameter", "agent pool %s does not exist; the emulator does not add pools", pool))
		return
	}
	current, _ := s.poolView(r.Context(), m, pool)
	if c := want.Properties.Count; c != nil && current.Properties.Count != nil && *c != *current.Properties.Count {
		writeError(w, errorf(http.StatusBadRequest, "InvalidParameter", "the emulator does not scale pools (count %d → %d)", *current.Properties.Count, *c))
		return
	}
	up, aerr := poolUpgrade(want.Properties.UpgradeSettings)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	if want.Properties.UpgradeSettings != nil {
		stored.UpgradeSettings = want.Properties.UpgradeSettings
	}
	v := want.Properties.OrchestratorVersion
	if v == nil || (current.Properties.CurrentOrchestratorVersion != nil && aks(*v) == *current.Properties.CurrentOrchestratorVersion) {
		// The same version: AKS reconciles the pool to it, which moves
		// nodes left behind by an operation aborted or failed part-way.
		if behind := s.poolBehind(r.Context(), m, pool); v != nil && len(behind) > 0 {
			s.logf("pool %s of %s: nodes %v are not at %s: reconciling", pool, *m.mc.Name, behind, aks(*v))
			target, aerr := resolve(*v)
			if aerr != nil {
				writeError(w, aerr)
				return
			}
			up.KubernetesVersion = target.Minor
			s.startPool(w, r, m, pool, "upgrade pool "+pool, http.StatusOK, up)
			return
		}
		pv, _ := s.poolView(r.Context(), m, pool)
		writeJSON(w, http.StatusOK, pv)
		return
	}
	target, aerr := resolve(*v)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	up.KubernetesVersion = target.Minor
	stored.OrchestratorVersion = to.Ptr(aks(target.Version))
	s.startPool(w, r, m, pool, "upgrade pool "+pool, http.StatusOK, up)
}

// poolUpgradeProfile answers an agent pool's upgrade profile: the
// versions it may move to and the newest node image of the catalogue.
func (s *Server) poolUpgradeProfile(w http.ResponseWriter, r *http.Request, group, name, pool string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.found(w, r, group, name)
	if !ok {
		return
	}
	pv, aerr := s.poolView(r.Context(), m, pool)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	images, err := nodeimages.Load(s.Fleet.NodeImagesPath())
	if err != nil {
		writeError(w, errorf(http.StatusInternalServerError, "InternalServerError", "reading the node-image catalogue: %v", err))
		return
	}
	current := ""
	if pv.Properties != nil && pv.Properties.CurrentOrchestratorVersion != nil {
		current = *pv.Properties.CurrentOrchestratorVersion
	}
	var upgrades []*armcontainerservice.AgentPoolUpgradeProfilePropertiesUpgradesItem
	for _, u := range upgradesFrom(current) {
		upgrades = append(upgrades, &armcontainerservice.AgentPoolUpgradeProfilePropertiesUpgradesItem{KubernetesVersion: u.KubernetesVersion, IsPreview: u.IsPreview})
	}
	writeJSON(w, http.StatusOK, armcontainerservice.AgentPoolUpgradeProfile{
		ID: to.Ptr(*m.mc.ID + "/agentPools/" + pool + "/upgradeProfiles/default"), Name: to.Ptr("default"), Type: to.Ptr(resourceType + "/agentPools/upgradeProfiles"),
		Properties: &armcontainerservice.AgentPoolUpgradeProfileProperties{KubernetesVersion: to.Ptr(current), OSType: to.Ptr(armcontainerservice.OSTypeLinux),
			Upgrades: upgrades, LatestNodeImageVersion: to.Ptr(images.Latest().Version)},
	})
}

// upgradeNodeImage moves a pool to the newest node image.
func (s *Server) upgradeNodeImage(w http.ResponseWriter, r *http.Request, group, name, pool string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.idle(w, r, group, name)
	if !ok {
		return
	}
	stored := findProfile(m.mc.Properties.AgentPoolProfiles, pool)
	if stored == nil {
		writeError(w, errorf(http.StatusNotFound, "NotFound", "The agent pool '%s' of managed cluster '%s' was not found.", pool, name))
		return
	}
	up, aerr := poolUpgrade(stored.UpgradeSettings)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	images, err := nodeimages.Load(s.Fleet.NodeImagesPath())
	if err != nil {
		writeError(w, errorf(http.StatusInternalServerError, "InternalServerError", "reading the node-image catalogue: %v", err))
		return
	}
	up.NodeImage = images.Latest().Version
	s.startPool(w, r, m, pool, "node image upgrade of pool "+pool, http.StatusAccepted, up)
}

func (s *Server) startPool(w http.ResponseWriter, r *http.Request, m *managed, pool, what string, status int, up cluster.NodePoolUpgrade) {
	name := *m.mc.Name
	view := func() any {
		pv, _ := s.poolView(context.Background(), m, pool)
		return pv
	}
	// AKS names a node-image-only upgrade's state apart (the spec's
	// AgentPoolsUpgradeNodeImageVersion example).
	state := "Upgrading"
	if up.NodeImage != "" && up.KubernetesVersion == "" {
		state = "UpgradingNodeImageVersion"
	}
	s.start(w, r, m, state, what, status, view, view, func(ctx context.Context) error {
		_, err := s.provider().UpgradeNodePool(ctx, name, pool, up)
		return err
	})
}

// poolBehind names the nodes of a pool that do not run what its record
// says (an upgrade aborted or failed part-way); none when they cannot be
// read.
func (s *Server) poolBehind(ctx context.Context, m *managed, pool string) []string {
	name := *m.mc.Name
	want, err := s.provider().PoolNodes(ctx, name, pool, cluster.NodePoolUpgrade{})
	if err != nil {
		return nil
	}
	c, err := s.Fleet.Get(name)
	if err != nil {
		return nil
	}
	client, err := c.Client()
	if err != nil {
		return nil
	}
	behind, _ := nodes.Behind(ctx, client, want.Selector, want.KubeletVersion, want.Labels)
	return behind
}
