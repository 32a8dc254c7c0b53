package azureemu

import (
	"net/http"
	"slices"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v6"
)

// MaintenanceNames are the configurations AKS knows: default (planned
// maintenance), and the schedules of the auto-upgrade and node OS
// auto-upgrade channels.
var MaintenanceNames = []string{"default", "aksManagedAutoUpgradeSchedule", "aksManagedNodeOSUpgradeSchedule"}

func (s *Server) listMaintenance(w http.ResponseWriter, r *http.Request, group, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.found(w, r, group, name)
	if !ok {
		return
	}
	list := armcontainerservice.MaintenanceConfigurationListResult{Value: []*armcontainerservice.MaintenanceConfiguration{}}
	for _, n := range MaintenanceNames {
		if mc, ok := m.maintenance[n]; ok {
			list.Value = append(list.Value, &mc)
		}
	}
	writeJSON(w, http.StatusOK, list)
}

// maintenance reads, writes or deletes one configuration.
func (s *Server) maintenance(w http.ResponseWriter, r *http.Request, group, name, config string) {
	i := slices.IndexFunc(MaintenanceNames, func(n string) bool { return strings.EqualFold(n, config) })
	if i < 0 {
		writeError(w, errorf(http.StatusBadRequest, "InvalidParameter", "maintenance configuration %q: use one of %s", config, strings.Join(MaintenanceNames, ", ")))
		return
	}
	config = MaintenanceNames[i]
	var want armcontainerservice.MaintenanceConfiguration
	if r.Method == http.MethodPut {
		if err := readBody(r, &want); err != nil {
			writeError(w, err)
			return
		}
		if want.Properties == nil || (want.Properties.MaintenanceWindow == nil && len(want.Properties.TimeInWeek) == 0) {
			writeError(w, errorf(http.StatusBadRequest, "InvalidParameter", "a maintenance configuration needs properties.maintenanceWindow (or timeInWeek for default)"))
			return
		}
		if mw := want.Properties.MaintenanceWindow; mw != nil && (mw.DurationHours == nil || *mw.DurationHours < 4) {
			writeError(w, errorf(http.StatusBadRequest, "InvalidParameter", "maintenanceWindow.durationHours must be at least 4"))
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.found(w, r, group, name)
	if !ok {
		return
	}
	switch r.Method {
	case http.MethodGet:
		mc, ok := m.maintenance[config]
		if !ok {
			writeError(w, errorf(http.StatusNotFound, "NotFound", "maintenance configuration %s of %s does not exist", config, name))
			return
		}
		writeJSON(w, http.StatusOK, mc)
	case http.MethodPut:
		want.ID, want.Name, want.Type = to.Ptr(*m.mc.ID+"/maintenanceConfigurations/"+config), to.Ptr(config), to.Ptr(resourceType+"/maintenanceConfigurations")
		if m.maintenance == nil {
			m.maintenance = map[string]armcontainerservice.MaintenanceConfiguration{}
		}
		m.maintenance[config] = want
		writeJSON(w, http.StatusOK, want)
	case http.MethodDelete:
		delete(m.maintenance, config)
		w.WriteHeader(http.StatusOK)
	default:
		writeError(w, errorf(http.StatusMethodNotAllowed, "MethodNotAllowed", "%s is not allowed on a maintenance configuration", r.Method))
	}
}
