package azureemu

import (
	"fmt"
	"maps"
	"net"
	"net/http"
	"strings"

	"upshift.dev/upshift/internal/providers/traffic/azuredns"
)

// Azure DNS zones (Microsoft.Network/dnsZones, api-version 2018-05-01)
// with A and CNAME record sets. Zones are stored, not served: nothing on
// this machine resolves through them (the gateway stands for resolvers of
// Traffic Manager names only).

type zone struct {
	group, name string
	records     map[string]*azuredns.RecordSet // by TYPE/name, lower case
}

func (s *Server) zoneID(group, name string) string {
	return fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Network/dnszones/%s", s.Subscription, group, name)
}

// dnsZone routes .../dnszones/ZONE[/TYPE/NAME].
func (s *Server) dnsZone(w http.ResponseWriter, r *http.Request, group, name string, rest []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := key(group, name)
	z, ok := s.zones[k]
	if len(rest) == 0 {
		switch r.Method {
		case http.MethodGet:
			if !ok {
				writeError(w, errorf(http.StatusNotFound, "ResourceNotFound", "The Resource 'Microsoft.Network/dnszones/%s' under resource group '%s' was not found.", name, group))
				return
			}
			writeJSON(w, http.StatusOK, s.zoneView(z))
		case http.MethodPut:
			status := http.StatusOK
			if !ok {
				z = &zone{group: group, name: strings.ToLower(name), records: map[string]*azuredns.RecordSet{}}
				s.zones[k] = z
				status = http.StatusCreated
			}
			writeJSON(w, status, s.zoneView(z))
		case http.MethodDelete:
			delete(s.zones, k)
			w.WriteHeader(http.StatusOK)
		default:
			writeError(w, errorf(http.StatusMethodNotAllowed, "MethodNotAllowed", "%s is not allowed on a DNS zone", r.Method))
		}
		return
	}
	if len(rest) != 2 {
		writeError(w, errorf(http.StatusNotFound, "NotFound", "the Azure emulator does not serve %s %s", r.Method, r.URL.Path))
		return
	}
	if !ok {
		writeError(w, errorf(http.StatusNotFound, "ParentResourceNotFound", "Can not perform requested operation on nested resource. Parent resource '%s' not found.", name))
		return
	}
	typ, rel := strings.ToUpper(rest[0]), strings.ToLower(rest[1])
	if typ != "A" && typ != "CNAME" {
		writeError(w, errorf(http.StatusBadRequest, "BadRequest", "the Azure emulator serves A and CNAME record sets, not %s", rest[0]))
		return
	}
	rk := typ + "/" + rel
	cur, exists := z.records[rk]
	switch r.Method {
	case http.MethodGet:
		if !exists {
			writeError(w, errorf(http.StatusNotFound, "NotFound", "The resource record '%s' does not exist in resource group '%s' of subscription '%s'.", rel, group, s.Subscription))
			return
		}
		writeJSON(w, http.StatusOK, cur)
	case http.MethodDelete:
		delete(z.records, rk)
		w.WriteHeader(http.StatusOK)
	case http.MethodPut:
		var in azuredns.RecordSet
		if aerr := readBody(r, &in); aerr != nil {
			writeError(w, aerr)
			return
		}
		if aerr := checkRecord(typ, rel, &in, z); aerr != nil {
			writeError(w, aerr)
			return
		}
		fqdn := rel + "." + z.name + "."
		if rel == "@" {
			fqdn = z.name + "."
		}
		p := in.Properties
		p.Fqdn = fqdn
		p.Metadata = maps.Clone(p.Metadata)
		out := &azuredns.RecordSet{ID: s.zoneID(group, z.name) + "/" + typ + "/" + rel, Name: rel, Type: "Microsoft.Network/dnszones/" + typ,
			Etag: fmt.Sprintf("%d", s.nextSeq()), Properties: p}
		z.records[rk] = out
		s.logf("dns %s %s %s ttl=%d", z.name, typ, rel, p.TTL)
		status := http.StatusOK
		if !exists {
			status = http.StatusCreated
		}
		writeJSON(w, status, out)
	default:
		writeError(w, errorf(http.StatusMethodNotAllowed, "MethodNotAllowed", "%s is not allowed on a record set here", r.Method))
	}
}

// checkRecord refuses what Azure refuses: a record set of the wrong
// shape, a TTL out of range, a CNAME beside other records.
func checkRecord(typ, rel string, in *azuredns.RecordSet, z *zone) *armError {
	p := in.Properties
	if p == nil {
		return errorf(http.StatusBadRequest, "BadRequest", "properties are required")
	}
	if p.TTL < 0 || p.TTL > 2147483647 {
		return errorf(http.StatusBadRequest, "BadRequest", "TTL %d is out of range", p.TTL)
	}
	switch typ {
	case "A":
		if len(p.ARecords) == 0 || p.CNAMERecord != nil {
			return errorf(http.StatusBadRequest, "BadRequest", "an A record set holds ARecords only")
		}
		for _, a := range p.ARecords {
			if ip := net.ParseIP(a.IPv4Address); ip == nil || ip.To4() == nil {
				return errorf(http.StatusBadRequest, "BadRequest", "%q is not an IPv4 address", a.IPv4Address)
			}
		}
		if _, ok := z.records["CNAME/"+rel]; ok {
			return errorf(http.StatusConflict, "Conflict", "The record set %s conflicts with the CNAME record set of the same name.", rel)
		}
	case "CNAME":
		if p.CNAMERecord == nil || p.CNAMERecord.Cname == "" || len(p.ARecords) > 0 {
			return errorf(http.StatusBadRequest, "BadRequest", "a CNAME record set holds one CNAMERecord")
		}
		if _, ok := z.records["A/"+rel]; ok {
			return errorf(http.StatusConflict, "Conflict", "The CNAME record set %s conflicts with another record set of the same name.", rel)
		}
	}
	return nil
}

func (s *Server) zoneView(z *zone) map[string]any {
	return map[string]any{"id": s.zoneID(z.group, z.name), "name": z.name, "type": "Microsoft.Network/dnszones", "location": "global",
		"properties": map[string]any{"numberOfRecordSets": len(z.records), "zoneType": "Public"}}
}

func (s *Server) nextSeq() int { s.seq++; return s.seq }
