package azureemu

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"upshift.dev/upshift/internal/providers/traffic"
	fd "upshift.dev/upshift/internal/providers/traffic/frontdoor"
)

// Azure Front Door (Microsoft.Cdn, api-version 2025-06-01): profiles,
// their origin groups and origins. Front Door answers users at its edge;
// here the gateway stands for the edge: every change of an origin group's
// origins is applied to Gateway as the route of G.azurefd.net (standing
// for the endpoint route or custom domain the user's profile sends to the
// group G), its Enabled origins the backends by their share of the
// weights, probed on the group's probe path with the origins' host
// header. Writes of origins are long-running as in Azure (202 and an
// Azure-AsyncOperation); their effect at the edge is immediate.

// fdProfile is a Front Door profile.
type fdProfile struct {
	name, sku string
	groups    map[string]*fdGroup // by lower-case name
}

// fdGroup is an origin group and its origins, in creation order.
type fdGroup struct {
	name    string
	props   fd.OriginGroupProps
	origins []fd.Origin
}

func (s *Server) cdnID(group, profile string) string {
	return fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Cdn/profiles/%s", s.Subscription, group, profile)
}

func cdnNotFound(kind, name string) *armError {
	return errorf(http.StatusNotFound, "NotFound", "The %s '%s' was not found.", kind, name)
}

// frontDoor routes .../providers/Microsoft.Cdn/profiles/P[/originGroups/G[/origins[/O]]].
func (s *Server) frontDoor(w http.ResponseWriter, r *http.Request, group, name string, rest, low []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := key(group, name)
	p := s.fdProfiles[k]
	if len(rest) == 0 {
		switch r.Method {
		case http.MethodGet:
			if p == nil {
				writeError(w, cdnNotFound("profile", name))
				return
			}
			writeJSON(w, http.StatusOK, s.profileView(group, p))
		case http.MethodPut:
			var in struct {
				Location string `json:"location"`
				SKU      *struct {
					Name string `json:"name"`
				} `json:"sku"`
			}
			if aerr := readBody(r, &in); aerr != nil {
				writeError(w, aerr)
				return
			}
			if in.Location == "" || in.SKU == nil || (in.SKU.Name != "Standard_AzureFrontDoor" && in.SKU.Name != "Premium_AzureFrontDoor") {
				writeError(w, errorf(http.StatusBadRequest, "BadRequest", "a Front Door profile needs a location and sku.name Standard_AzureFrontDoor or Premium_AzureFrontDoor"))
				return
			}
			status := http.StatusOK
			if p == nil {
				p, status = &fdProfile{name: name, groups: map[string]*fdGroup{}}, http.StatusCreated
				s.fdProfiles[k] = p
			}
			p.sku = in.SKU.Name
			writeJSON(w, status, s.profileView(group, p))
		default:
			writeError(w, errorf(http.StatusMethodNotAllowed, "MethodNotAllowed", "%s is not allowed on a Front Door profile here", r.Method))
		}
		return
	}
	if p == nil {
		writeError(w, cdnNotFound("profile", name))
		return
	}
	if len(rest) < 2 || low[0] != "origingroups" {
		writeError(w, errorf(http.StatusNotFound, "NotFound", "the Azure emulator does not serve %s %s", r.Method, r.URL.Path))
		return
	}
	gname := rest[1]
	g := p.groups[strings.ToLower(gname)]
	switch {
	case len(rest) == 2:
		s.originGroup(w, r, group, p, gname, g)
	case g == nil:
		writeError(w, cdnNotFound("origin group", gname))
	case len(rest) == 3 && low[2] == "origins" && r.Method == http.MethodGet:
		list := fd.OriginList{Value: []fd.Origin{}}
		for _, o := range g.origins {
			list.Value = append(list.Value, s.originView(group, p, g, o))
		}
		writeJSON(w, http.StatusOK, list)
	case len(rest) == 4 && low[2] == "origins":
		s.origin(w, r, group, p, g, rest[3])
	default:
		writeError(w, errorf(http.StatusNotFound, "NotFound", "the Azure emulator does not serve %s %s", r.Method, r.URL.Path))
	}
}

func (s *Server) profileView(group string, p *fdProfile) any {
	return map[string]any{"id": s.cdnID(group, p.name), "name": p.name, "type": "Microsoft.Cdn/profiles", "location": "Global",
		"sku": map[string]string{"name": p.sku}, "kind": "frontdoor",
		"properties": map[string]any{"provisioningState": "Succeeded", "resourceState": "Active", "frontDoorId": "00000000-0000-0000-0000-000000000000", "originResponseTimeoutSeconds": 60}}
}

func (s *Server) groupView(group string, p *fdProfile, g *fdGroup) fd.OriginGroup {
	props := g.props
	props.ProvisioningState, props.DeploymentStatus = "Succeeded", "NotStarted"
	return fd.OriginGroup{ID: s.cdnID(group, p.name) + "/originGroups/" + g.name, Name: g.name, Type: "Microsoft.Cdn/profiles/origingroups", Properties: &props}
}

func (s *Server) originView(group string, p *fdProfile, g *fdGroup, o fd.Origin) fd.Origin {
	props := *o.Properties
	props.OriginGroupName, props.ProvisioningState, props.DeploymentStatus = g.name, "Succeeded", "NotStarted"
	return fd.Origin{ID: s.cdnID(group, p.name) + "/originGroups/" + g.name + "/origins/" + o.Name, Name: o.Name, Type: "Microsoft.Cdn/profiles/origingroups/origins", Properties: &props}
}

// originGroup serves one origin group: get, create or replace, delete.
func (s *Server) originGroup(w http.ResponseWriter, r *http.Request, group string, p *fdProfile, name string, g *fdGroup) {
	switch r.Method {
	case http.MethodGet:
		if g == nil {
			writeError(w, cdnNotFound("origin group", name))
			return
		}
		writeJSON(w, http.StatusOK, s.groupView(group, p, g))
	case http.MethodPut:
		var in fd.OriginGroup
		if aerr := readBody(r, &in); aerr != nil {
			writeError(w, aerr)
			return
		}
		if in.Properties == nil {
			writeError(w, errorf(http.StatusBadRequest, "BadRequest", "properties is required"))
			return
		}
		if hp := in.Properties.HealthProbeSettings; hp != nil && hp.ProbeIntervalInSeconds != nil && (*hp.ProbeIntervalInSeconds < 1 || *hp.ProbeIntervalInSeconds > 255) {
			writeError(w, errorf(http.StatusBadRequest, "BadRequest", "healthProbeSettings.probeIntervalInSeconds %d is not 1 to 255", *hp.ProbeIntervalInSeconds))
			return
		}
		status := http.StatusOK
		if g == nil {
			g, status = &fdGroup{name: name}, http.StatusCreated
			p.groups[strings.ToLower(name)] = g
		}
		g.props = *in.Properties
		g.props.ProvisioningState, g.props.DeploymentStatus = "", ""
		s.logf("front door %s: origin group %s", p.name, name)
		writeJSON(w, status, s.groupView(group, p, g))
	case http.MethodDelete:
		if g == nil {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		delete(p.groups, strings.ToLower(name))
		w.WriteHeader(http.StatusOK)
	default:
		writeError(w, errorf(http.StatusMethodNotAllowed, "MethodNotAllowed", "%s is not allowed on an origin group", r.Method))
	}
}

// origin serves one origin: get, create or replace (PUT), update (PATCH),
// delete; writes answer 202 and an operation, as Azure does.
func (s *Server) origin(w http.ResponseWriter, r *http.Request, group string, p *fdProfile, g *fdGroup, name string) {
	i := slices.IndexFunc(g.origins, func(o fd.Origin) bool { return strings.EqualFold(o.Name, name) })
	created := i < 0
	switch r.Method {
	case http.MethodGet:
		if i < 0 {
			writeError(w, cdnNotFound("origin", name))
			return
		}
		writeJSON(w, http.StatusOK, s.originView(group, p, g, g.origins[i]))
		return
	case http.MethodDelete:
		if i < 0 {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		g.origins = slices.Delete(g.origins, i, i+1)
	case http.MethodPut, http.MethodPatch:
		var in fd.Origin
		if aerr := readBody(r, &in); aerr != nil {
			writeError(w, aerr)
			return
		}
		if in.Properties == nil {
			writeError(w, errorf(http.StatusBadRequest, "BadRequest", "properties is required"))
			return
		}
		o := fd.Origin{Name: name, Properties: &fd.OriginProps{}}
		if i >= 0 && r.Method == http.MethodPatch {
			o = g.origins[i]
			cp := *o.Properties
			o.Properties = &cp
		} else if r.Method == http.MethodPatch {
			writeError(w, cdnNotFound("origin", name))
			return
		}
		if aerr := mergeOrigin(o.Properties, in.Properties, r.Method == http.MethodPut); aerr != nil {
			writeError(w, aerr)
			return
		}
		if i >= 0 {
			g.origins[i] = o
		} else {
			g.origins = append(g.origins, o)
		}
	default:
		writeError(w, errorf(http.StatusMethodNotAllowed, "MethodNotAllowed", "%s is not allowed on an origin", r.Method))
		return
	}
	if aerr := s.publishGroup(r.Context(), g); aerr != nil {
		writeError(w, aerr)
		return
	}
	s.logf("front door %s: %s origin %s of %s: %s", p.name, r.Method, name, g.name, describeGroup(g))
	op := s.newOperation(nil)
	op.Status, op.EndTime = statusSucceeded, time.Now().UTC()
	w.Header().Set("Azure-AsyncOperation", "http://"+r.Host+"/subscriptions/"+s.Subscription+"/resourcegroups/"+group+"/providers/Microsoft.Cdn/operationresults/"+op.ID+"?api-version="+fd.APIVersion)
	// No Retry-After: the operation has already ended here, and a client
	// polls at its own pace.
	if r.Method == http.MethodDelete {
		w.WriteHeader(http.StatusAccepted)
		return
	}
	i = slices.IndexFunc(g.origins, func(o fd.Origin) bool { return strings.EqualFold(o.Name, name) })
	view := s.originView(group, p, g, g.origins[i])
	view.Properties.ProvisioningState = "Updating"
	if created {
		view.Properties.ProvisioningState = "Creating"
	}
	writeJSON(w, http.StatusAccepted, view)
}

// mergeOrigin applies a request's properties to an origin (replace: a
// PUT's, where unset ones take Azure's defaults), checking the spec's
// ranges.
func mergeOrigin(o, in *fd.OriginProps, replace bool) *armError {
	if replace {
		*o = fd.OriginProps{}
		if in.HostName == "" {
			return errorf(http.StatusBadRequest, "BadRequest", "properties.hostName is required")
		}
	}
	if in.HostName != "" {
		o.HostName = in.HostName
	}
	for _, port := range []*int32{in.HTTPPort, in.HTTPSPort} {
		if port != nil && (*port < 1 || *port > 65535) {
			return errorf(http.StatusBadRequest, "BadRequest", "port %d is not 1 to 65535", *port)
		}
	}
	if in.HTTPPort != nil {
		o.HTTPPort = in.HTTPPort
	}
	if in.HTTPSPort != nil {
		o.HTTPSPort = in.HTTPSPort
	}
	if in.OriginHostHeader != "" {
		o.OriginHostHeader = in.OriginHostHeader
	}
	if in.Weight != nil {
		if *in.Weight < 1 || *in.Weight > 1000 {
			return errorf(http.StatusBadRequest, "BadRequest", "properties.weight %d is not 1 to 1000", *in.Weight)
		}
		o.Weight = in.Weight
	}
	switch in.EnabledState {
	case "":
	case fd.Enabled, fd.Disabled:
		o.EnabledState = in.EnabledState
	default:
		return errorf(http.StatusBadRequest, "BadRequest", "properties.enabledState %q is not Enabled or Disabled", in.EnabledState)
	}
	if o.EnabledState == "" {
		o.EnabledState = fd.Enabled
	}
	if o.HTTPPort == nil && o.HTTPSPort == nil {
		port := int32(80)
		o.HTTPPort = &port
	}
	return nil
}

// publishGroup applies an origin group to the gateway, when there is one:
// the route of G.azurefd.net gets its Enabled origins. A group with none
// serves nothing in Azure; the gateway keeps its last route then.
func (s *Server) publishGroup(ctx context.Context, g *fdGroup) *armError {
	if s.Gateway == nil {
		return nil
	}
	route := traffic.Route{Host: strings.ToLower(g.name) + fd.DNSSuffix}
	health := "/"
	if hp := g.props.HealthProbeSettings; hp != nil && hp.ProbePath != "" {
		health = hp.ProbePath
	}
	shares := fd.Shares(g.origins)
	enabled := 0
	for _, o := range g.origins {
		if route.UpstreamHost == "" {
			route.UpstreamHost = o.Properties.OriginHostHeader
		}
		if shares[o.Name] > 0 {
			enabled++
		}
		route.Backends = append(route.Backends, traffic.Backend{Name: o.Name, URL: o.URL(), Weight: shares[o.Name], HealthPath: health})
	}
	if enabled == 0 {
		return nil
	}
	if err := s.Gateway.ApplyRoute(ctx, route); err != nil {
		return errorf(http.StatusInternalServerError, "InternalServerError", "the emulator could not apply origin group %s to the gateway: %v", g.name, err)
	}
	return nil
}

func describeGroup(g *fdGroup) string {
	shares := fd.Shares(g.origins)
	var parts []string
	for _, o := range g.origins {
		parts = append(parts, o.Name+"="+o.URL()+"("+strconv.Itoa(shares[o.Name])+"%)")
	}
	return strings.Join(parts, " ")
}
