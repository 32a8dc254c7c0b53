package azureemu

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"

	tm "upshift.dev/upshift/internal/providers/traffic/trafficmanager"
)

// Traffic Manager profiles (Microsoft.Network/trafficmanagerprofiles,
// api-version 2022-04-01) with external endpoints. Traffic Manager answers
// DNS queries; here the gateway stands for the resolvers users go
// through: every change of a profile is applied to Gateway as the route
// of the profile's DNS name (NAME.trafficmanager.net), its Enabled
// endpoints the backends by their share of the weights, with the
// profile's health-check path and Host header. TTLs are stored and shown
// but not modelled: the gateway's route changes at once.

var relative = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$`)

func (s *Server) profileID(group, name string) string {
	return fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Network/trafficManagerProfiles/%s", s.Subscription, group, name)
}

func profileNotFound(group, name string) *armError {
	return errorf(http.StatusNotFound, "ResourceNotFound", "The Resource 'Microsoft.Network/trafficManagerProfiles/%s' under resource group '%s' was not found.", name, group)
}

// trafficManager routes .../trafficmanagerprofiles/NAME[/TYPE/ENDPOINT].
func (s *Server) trafficManager(w http.ResponseWriter, r *http.Request, group, name string, rest, low []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := key(group, name)
	switch {
	case len(rest) == 0:
		switch r.Method {
		case http.MethodGet:
			if p, ok := s.profiles[k]; ok {
				writeJSON(w, http.StatusOK, p)
				return
			}
			writeError(w, profileNotFound(group, name))
		case http.MethodPut:
			s.putProfile(w, r, group, name)
		case http.MethodPatch:
			s.patchProfile(w, r, group, name)
		case http.MethodDelete:
			if _, ok := s.profiles[k]; !ok {
				w.WriteHeader(http.StatusNoContent)
				return
			}
			delete(s.profiles, k)
			deleted(w)
		default:
			writeError(w, errorf(http.StatusMethodNotAllowed, "MethodNotAllowed", "%s is not allowed on a Traffic Manager profile", r.Method))
		}
	case len(rest) == 2 && low[0] == strings.ToLower(tm.ExternalEndpoints):
		s.endpoint(w, r, group, name, rest[1])
	case len(rest) == 2 && (low[0] == "azureendpoints" || low[0] == "nestedendpoints"):
		writeError(w, errorf(http.StatusBadRequest, "BadRequest", "the Azure emulator serves ExternalEndpoints only, not %s", rest[0]))
	default:
		writeError(w, errorf(http.StatusNotFound, "NotFound", "the Azure emulator does not serve %s %s", r.Method, r.URL.Path))
	}
}

func (s *Server) putProfile(w http.ResponseWriter, r *http.Request, group, name string) {
	var in tm.Profile
	if aerr := readBody(r, &in); aerr != nil {
		writeError(w, aerr)
		return
	}
	p := in.Properties
	switch {
	case p == nil || p.DNSConfig == nil:
		writeError(w, errorf(http.StatusBadRequest, "BadRequest", "properties.dnsConfig is required"))
		return
	case !relative.MatchString(p.DNSConfig.RelativeName):
		writeError(w, errorf(http.StatusBadRequest, "BadRequest", "dnsConfig.relativeName %q: 1 to 63 letters, digits and hyphens", p.DNSConfig.RelativeName))
		return
	case p.TrafficRoutingMethod == "":
		writeError(w, errorf(http.StatusBadRequest, "BadRequest", "properties.trafficRoutingMethod is required"))
		return
	}
	for k, other := range s.profiles {
		if k != key(group, name) && strings.EqualFold(other.Properties.DNSConfig.RelativeName, p.DNSConfig.RelativeName) {
			writeError(w, errorf(http.StatusConflict, "DomainNameAlreadyInUse", "The domain name '%s%s' is already in use.", p.DNSConfig.RelativeName, tm.DNSSuffix))
			return
		}
	}
	if p.DNSConfig.TTL == nil {
		p.DNSConfig.TTL = to.Ptr(int64(300))
	}
	p.DNSConfig.Fqdn = strings.ToLower(p.DNSConfig.RelativeName) + tm.DNSSuffix
	if p.ProfileStatus == "" {
		p.ProfileStatus = tm.Enabled
	}
	if p.MonitorConfig == nil {
		p.MonitorConfig = &tm.MonitorConfig{Protocol: "HTTP", Port: to.Ptr(int64(80)), Path: "/"}
	}
	p.MonitorConfig.ProfileMonitorStatus = "Online"
	out := &tm.Profile{ID: s.profileID(group, name), Name: name, Type: tm.ProfileType, Location: "global", Tags: in.Tags, Properties: p}
	eps := p.Endpoints
	p.Endpoints = nil
	for _, e := range eps {
		if aerr := s.setEndpoint(out, group, name, e.Name, e); aerr != nil {
			writeError(w, aerr)
			return
		}
	}
	status := http.StatusCreated
	if _, ok := s.profiles[key(group, name)]; ok {
		status = http.StatusOK
	}
	if aerr := s.publish(r.Context(), out); aerr != nil {
		writeError(w, aerr)
		return
	}
	s.profiles[key(group, name)] = out
	s.logf("traffic manager profile %s/%s: %s", group, name, describeProfile(out))
	writeJSON(w, status, out)
}

func (s *Server) patchProfile(w http.ResponseWriter, r *http.Request, group, name string) {
	cur, ok := s.profiles[key(group, name)]
	if !ok {
		writeError(w, profileNotFound(group, name))
		return
	}
	var in struct {
		Tags       *map[string]string `json:"tags"`
		Properties *tm.ProfileProps   `json:"properties"`
	}
	if aerr := readBody(r, &in); aerr != nil {
		writeError(w, aerr)
		return
	}
	next := *cur
	props := *cur.Properties
	next.Properties = &props
	if in.Tags != nil {
		next.Tags = maps.Clone(*in.Tags)
	}
	if p := in.Properties; p != nil {
		if p.DNSConfig != nil && p.DNSConfig.TTL != nil {
			dc := *props.DNSConfig
			dc.TTL = p.DNSConfig.TTL
			props.DNSConfig = &dc
		}
		if p.MonitorConfig != nil {
			props.MonitorConfig = p.MonitorConfig
			props.MonitorConfig.ProfileMonitorStatus = "Online"
		}
		if p.ProfileStatus != "" {
			props.ProfileStatus = p.ProfileStatus
		}
	}
	if aerr := s.publish(r.Context(), &next); aerr != nil {
		writeError(w, aerr)
		return
	}
	s.profiles[key(group, name)] = &next
	writeJSON(w, http.StatusOK, &next)
}

func (s *Server) endpoint(w http.ResponseWriter, r *http.Request, group, profile, name string) {
	cur, ok := s.profiles[key(group, profile)]
	if !ok {
		writeError(w, profileNotFound(group, profile))
		return
	}
	i := slices.IndexFunc(cur.Properties.Endpoints, func(e tm.Endpoint) bool { return strings.EqualFold(e.Name, name) })
	next := *cur
	props := *cur.Properties
	props.Endpoints = slices.Clone(cur.Properties.Endpoints)
	next.Properties = &props
	switch r.Method {
	case http.MethodGet:
		if i < 0 {
			writeError(w, errorf(http.StatusNotFound, "NotFound", "Traffic Manager profile %s has no endpoint %s", profile, name))
			return
		}
		writeJSON(w, http.StatusOK, cur.Properties.Endpoints[i])
		return
	case http.MethodDelete:
		if i < 0 {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		props.Endpoints = slices.Delete(props.Endpoints, i, i+1)
	case http.MethodPut, http.MethodPatch:
		var in tm.Endpoint
		if aerr := readBody(r, &in); aerr != nil {
			writeError(w, aerr)
			return
		}
		if r.Method == http.MethodPatch {
			if i < 0 {
				writeError(w, errorf(http.StatusNotFound, "NotFound", "Traffic Manager profile %s has no endpoint %s", profile, name))
				return
			}
			in = mergeEndpoint(cur.Properties.Endpoints[i], in)
		}
		if aerr := s.setEndpoint(&next, group, profile, name, in); aerr != nil {
			writeError(w, aerr)
			return
		}
	default:
		writeError(w, errorf(http.StatusMethodNotAllowed, "MethodNotAllowed", "%s is not allowed on an endpoint", r.Method))
		return
	}
	if aerr := s.publish(r.Context(), &next); aerr != nil {
		writeError(w, aerr)
		return
	}
	s.profiles[key(group, profile)] = &next
	s.logf("traffic manager profile %s/%s: %s", group, profile, describeProfile(&next))
	if r.Method == http.MethodDelete {
		deleted(w)
		return
	}
	j := slices.IndexFunc(props.Endpoints, func(e tm.Endpoint) bool { return strings.EqualFold(e.Name, name) })
	status := http.StatusOK
	if i < 0 {
		status = http.StatusCreated
	}
	writeJSON(w, status, props.Endpoints[j])
}

func mergeEndpoint(cur, in tm.Endpoint) tm.Endpoint {
	out := cur
	p := *cur.Properties
	out.Properties = &p
	if in.Properties == nil {
		return out
	}
	if in.Properties.Target != "" {
		p.Target = in.Properties.Target
	}
	if in.Properties.EndpointStatus != "" {
		p.EndpointStatus = in.Properties.EndpointStatus
	}
	if in.Properties.Weight != nil {
		p.Weight = in.Properties.Weight
	}
	return out
}

// setEndpoint checks an endpoint and puts it in the profile p.
func (s *Server) setEndpoint(p *tm.Profile, group, profile, name string, in tm.Endpoint) *armError {
	if !relative.MatchString(name) {
		return errorf(http.StatusBadRequest, "BadRequest", "endpoint name %q: letters, digits and hyphens", name)
	}
	e := in.Properties
	if e == nil || e.Target == "" {
		return errorf(http.StatusBadRequest, "BadRequest", "endpoint %s: properties.target is required", name)
	}
	if host, _, err := net.SplitHostPort(e.Target); err == nil {
		// Azure takes a host name or an address; host:port is the
		// emulator's own allowance for the local fleet's ingresses.
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return errorf(http.StatusBadRequest, "BadRequest", "endpoint %s: target %q: a host name or IP address (the emulator takes host:port on loopback only)", name, e.Target)
		}
	}
	if e.Weight == nil {
		e.Weight = to.Ptr(int64(1))
	}
	if *e.Weight < 1 || *e.Weight > 1000 {
		return errorf(http.StatusBadRequest, "BadRequest", "endpoint %s: weight %d: Traffic Manager weights run from 1 to 1000 (disable an endpoint to send it nothing)", name, *e.Weight)
	}
	if e.EndpointStatus == "" {
		e.EndpointStatus = tm.Enabled
	}
	if e.EndpointStatus != tm.Enabled && e.EndpointStatus != tm.Disabled {
		return errorf(http.StatusBadRequest, "BadRequest", "endpoint %s: endpointStatus %q: Enabled or Disabled", name, e.EndpointStatus)
	}
	e.EndpointMonitorStatus = "Online"
	if e.EndpointStatus == tm.Disabled {
		e.EndpointMonitorStatus = "Disabled"
	}
	out := tm.Endpoint{ID: s.profileID(group, profile) + "/externalEndpoints/" + name, Name: name, Type: tm.ExternalEndpointType, Properties: e}
	eps := p.Properties.Endpoints
	if i := slices.IndexFunc(eps, func(x tm.Endpoint) bool { return strings.EqualFold(x.Name, name) }); i >= 0 {
		eps[i] = out
	} else {
		p.Properties.Endpoints = append(eps, out)
	}
	return nil
}

// publish applies a profile to the gateway, when there is one: the route
// of its DNS name gets its Enabled endpoints. A profile with none answers
// nothing in Azure; the gateway keeps its last route then.
func (s *Server) publish(ctx context.Context, p *tm.Profile) *armError {
	if s.Gateway == nil {
		return nil
	}
	route := p.Route(p.Properties.DNSConfig.Fqdn)
	enabled := 0
	for _, b := range route.Backends {
		if b.Weight > 0 {
			enabled++
		}
	}
	if enabled == 0 {
		return nil
	}
	if err := s.Gateway.ApplyRoute(ctx, route); err != nil {
		return errorf(http.StatusInternalServerError, "InternalServerError", "the emulator could not apply profile %s to the gateway: %v", p.Name, err)
	}
	return nil
}

func describeProfile(p *tm.Profile) string {
	shares := tm.Shares(p.Properties.Endpoints)
	var parts []string
	for _, e := range p.Properties.Endpoints {
		parts = append(parts, fmt.Sprintf("%s=%s(%d%%)", e.Name, e.Properties.Target, shares[e.Name]))
	}
	return fmt.Sprintf("%s ttl=%d [%s]", p.Properties.DNSConfig.Fqdn, *p.Properties.DNSConfig.TTL, strings.Join(parts, " "))
}

// deleted answers a delete that removed something as Traffic Manager's
// spec and example do: 200 with a DeleteOperationResult body ({}).
func deleted(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("{}"))
}
