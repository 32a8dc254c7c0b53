package azuredns

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/azurearm"
	"upshift.dev/upshift/internal/providers/traffic"
)

// Type names this provider in configuration.
const Type = v1alpha1.TrafficAzureDNS

// APIVersion of Microsoft.Network/dnsZones spoken.
const APIVersion = "2018-05-01"

// TTLTag in a record set's metadata keeps its TTL while upshift has
// lowered it for a switch.
const TTLTag = "upshiftTTL"

const field = "spec.blueGreen.traffic.azureDNS"

// RecordSet is an A or CNAME record set, as far as upshift reads it.
type RecordSet struct {
	ID         string       `json:"id,omitempty"`
	Name       string       `json:"name,omitempty"`
	Type       string       `json:"type,omitempty"`
	Etag       string       `json:"etag,omitempty"`
	Properties *RecordProps `json:"properties,omitempty"`
}

// RecordProps are a record set's properties.
type RecordProps struct {
	Metadata    map[string]string `json:"metadata"`
	TTL         int64             `json:"TTL,omitempty"`
	Fqdn        string            `json:"fqdn,omitempty"`
	ARecords    []ARecord         `json:"ARecords,omitempty"`
	CNAMERecord *CNAMERecord      `json:"CNAMERecord,omitempty"`
}

// ARecord is one address.
type ARecord struct {
	IPv4Address string `json:"ipv4Address"`
}

// CNAMERecord is the canonical name.
type CNAMERecord struct {
	Cname string `json:"cname"`
}

// Provider switches names of one zone.
type Provider struct {
	arm       *azurearm.REST
	zonePath  string // /subscriptions/S/resourceGroups/G/providers/Microsoft.Network/dnsZones/Z
	zone      string
	targets   map[string]v1alpha1.DNSTarget
	switchTTL int64
}

var (
	_ traffic.Provider   = (*Provider)(nil)
	_ traffic.TTLManager = (*Provider)(nil)
)

// FromSpec builds the provider from a run's traffic spec.
func FromSpec(spec v1alpha1.TrafficSpec) (traffic.Provider, error) {
	if spec.AzureDNS == nil {
		return nil, fmt.Errorf("%s (subscriptionID, resourceGroup, zone, targets) is required with provider %s", field, Type)
	}
	p, err := New(*spec.AzureDNS)
	if err != nil {
		return nil, err
	}
	if _, err := p.relative(spec.Hosts.Cluster); err != nil {
		return nil, fmt.Errorf("spec.blueGreen.traffic.hosts.cluster: %w", err)
	}
	return p, nil
}

// New checks the configuration and opens ARM.
func New(c v1alpha1.AzureDNSTraffic) (*Provider, error) {
	switch {
	case c.SubscriptionID == "" || c.ResourceGroup == "" || c.Zone == "":
		return nil, fmt.Errorf("%s: subscriptionID, resourceGroup and zone are required", field)
	case strings.ContainsAny(c.SubscriptionID+c.ResourceGroup+c.Zone, "/?#"):
		return nil, fmt.Errorf("%s: subscriptionID, resourceGroup and zone cannot hold / ? or #", field)
	case len(c.Targets) < 2:
		return nil, fmt.Errorf("%s.targets: name at least two clusters (blue and green) and their records", field)
	case c.SwitchTTL < 0:
		return nil, fmt.Errorf("%s.switchTTL is seconds, not negative", field)
	}
	for name, t := range c.Targets {
		if (len(t.A) == 0) == (t.CNAME == "") {
			return nil, fmt.Errorf("%s.targets.%s: give A records or a CNAME, not both", field, name)
		}
		for _, a := range t.A {
			if ip := net.ParseIP(a); ip == nil || ip.To4() == nil {
				return nil, fmt.Errorf("%s.targets.%s: %q is not an IPv4 address", field, name, a)
			}
		}
	}
	if err := azurearm.ValidateEndpoint(field+".armEndpoint", c.ARMEndpoint); err != nil {
		return nil, err
	}
	rest, err := azurearm.NewREST("upshift/azuredns", c.ARMEndpoint, field+".armEndpoint", APIVersion)
	if err != nil {
		return nil, fmt.Errorf("azure dns: no Azure credentials (DefaultAzureCredential tries the environment, workload identity, managed identity and the Azure CLI): %w", err)
	}
	zone := strings.ToLower(strings.TrimSuffix(c.Zone, "."))
	switchTTL := c.SwitchTTL
	if switchTTL == 0 {
		switchTTL = 30
	}
	return &Provider{arm: rest, zone: zone, targets: c.Targets, switchTTL: switchTTL,
		zonePath: "/subscriptions/" + url.PathEscape(c.SubscriptionID) + "/resourceGroups/" + url.PathEscape(c.ResourceGroup) + "/providers/Microsoft.Network/dnsZones/" + url.PathEscape(zone)}, nil
}

// relative is a host's name in the zone: shop.example.com in example.com
// is "shop"; the apex is "@".
func (p *Provider) relative(host string) (string, error) {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if h == p.zone {
		return "@", nil
	}
	name, ok := strings.CutSuffix(h, "."+p.zone)
	if !ok || name == "" {
		return "", fmt.Errorf("%q is not a name in zone %s", host, p.zone)
	}
	return name, nil
}

func (p *Provider) recordPath(typ, name string) string {
	return p.zonePath + "/" + typ + "/" + url.PathEscape(name)
}

// current reads the name's record set: its CNAME, else its A records;
// nil when it has neither.
func (p *Provider) current(ctx context.Context, host string) (string, *RecordSet, error) {
	name, err := p.relative(host)
	if err != nil {
		return "", nil, err
	}
	for _, typ := range []string{"CNAME", "A"} {
		var rs RecordSet
		err := p.arm.Call(ctx, http.MethodGet, p.recordPath(typ, name), fmt.Sprintf("reading the %s record set %s in zone %s", typ, name, p.zone), nil, &rs)
		if azurearm.NotFound(err) {
			continue
		}
		if err != nil {
			return name, nil, err
		}
		if rs.Properties == nil {
			rs.Properties = &RecordProps{}
		}
		rs.Type = typ
		return name, &rs, nil
	}
	return name, nil, nil
}

// backendOf is the target a record set matches, "" if none.
func (p *Provider) backendOf(rs *RecordSet) string {
	for _, b := range slices.Sorted(maps.Keys(p.targets)) {
		t := p.targets[b]
		switch {
		case rs.Type == "CNAME" && rs.Properties.CNAMERecord != nil && t.CNAME != "" &&
			strings.EqualFold(strings.TrimSuffix(rs.Properties.CNAMERecord.Cname, "."), strings.TrimSuffix(t.CNAME, ".")):
			return b
		case rs.Type == "A" && len(t.A) > 0 && sameAddresses(rs.Properties.ARecords, t.A):
			return b
		}
	}
	return ""
}

func sameAddresses(have []ARecord, want []string) bool {
	var got []string
	for _, a := range have {
		got = append(got, a.IPv4Address)
	}
	slices.Sort(got)
	w := slices.Sorted(slices.Values(want))
	return slices.Equal(got, w)
}

// Weights says which target the name points to: 100 for it, 0 for the
// others.
func (p *Provider) Weights(ctx context.Context, route string) (traffic.Weights, error) {
	name, rs, err := p.current(ctx, route)
	if err != nil {
		return nil, err
	}
	if rs == nil {
		return nil, fmt.Errorf("zone %s has no A or CNAME record set %s: %w", p.zone, name, traffic.ErrNoRoute)
	}
	w := traffic.Weights{}
	for b := range p.targets {
		w[b] = 0
	}
	b := p.backendOf(rs)
	if b == "" {
		return nil, fmt.Errorf("record set %s in zone %s points to none of %s's targets (%s)", name, p.zone, field, describe(rs))
	}
	w[b] = 100
	return w, nil
}

func describe(rs *RecordSet) string {
	if rs.Type == "CNAME" && rs.Properties.CNAMERecord != nil {
		return "CNAME " + rs.Properties.CNAMERecord.Cname
	}
	var a []string
	for _, r := range rs.Properties.ARecords {
		a = append(a, r.IPv4Address)
	}
	return "A " + strings.Join(a, ",")
}

// Switch points the name at the one backend with weight 100. The new
// record set keeps the old one's TTL and metadata.
func (p *Provider) Switch(ctx context.Context, route string, w traffic.Weights) error {
	if err := w.Validate(); err != nil {
		return err
	}
	to := ""
	for b, v := range w {
		switch v {
		case 100:
			to = b
		case 0:
		default:
			return fmt.Errorf("DNS cannot split traffic: %s gives %s %d%%; use 0 or 100 (or the gateway or Traffic Manager for weights)", w, b, v)
		}
	}
	t, ok := p.targets[to]
	if !ok {
		return fmt.Errorf("%s.targets has no records for %s", field, to)
	}
	name, rs, err := p.current(ctx, route)
	if err != nil {
		return err
	}
	props := &RecordProps{TTL: 300, Metadata: map[string]string{}}
	if rs != nil {
		props.TTL, props.Metadata = rs.Properties.TTL, maps.Clone(rs.Properties.Metadata)
		if props.Metadata == nil {
			props.Metadata = map[string]string{}
		}
	}
	typ, old := "A", "CNAME"
	if t.CNAME != "" {
		typ, old = "CNAME", "A"
		props.CNAMERecord = &CNAMERecord{Cname: t.CNAME}
	} else {
		for _, a := range t.A {
			props.ARecords = append(props.ARecords, ARecord{IPv4Address: a})
		}
	}
	if rs != nil && rs.Type == old {
		// A name holds a CNAME or A records, not both: the old kind goes
		// first (the name answers nothing for that moment).
		if err := p.arm.Call(ctx, http.MethodDelete, p.recordPath(old, name), fmt.Sprintf("deleting the %s record set %s", old, name), nil, nil); err != nil && !azurearm.NotFound(err) {
			return err
		}
	}
	if err := p.arm.Call(ctx, http.MethodPut, p.recordPath(typ, name), fmt.Sprintf("pointing %s at %s", route, to), RecordSet{Properties: props}, nil); err != nil {
		return err
	}
	got, err := p.Weights(ctx, route)
	if err != nil {
		return err
	}
	if got[to] != 100 {
		return fmt.Errorf("record set %s answers %s after the switch to %s", name, got, to)
	}
	return nil
}

// LowerTTL sets the switch TTL, keeping the record's own in its
// metadata, and returns how long resolvers may hold the old answer.
func (p *Provider) LowerTTL(ctx context.Context, host string) (time.Duration, error) {
	name, rs, err := p.current(ctx, host)
	if err != nil {
		return 0, err
	}
	if rs == nil {
		return 0, fmt.Errorf("zone %s has no A or CNAME record set %s: %w", p.zone, name, traffic.ErrNoRoute)
	}
	cur := rs.Properties.TTL
	if kept, ok := rs.Properties.Metadata[TTLTag]; ok {
		old, _ := strconv.ParseInt(kept, 10, 64)
		return time.Duration(max(old, cur)) * time.Second, nil
	}
	if cur <= p.switchTTL {
		return 0, nil
	}
	props := *rs.Properties
	props.Metadata = maps.Clone(rs.Properties.Metadata)
	if props.Metadata == nil {
		props.Metadata = map[string]string{}
	}
	props.Metadata[TTLTag] = strconv.FormatInt(cur, 10)
	props.TTL = p.switchTTL
	props.Fqdn = ""
	if err := p.arm.Call(ctx, http.MethodPut, p.recordPath(rs.Type, name), "lowering the TTL of "+host, RecordSet{Properties: &props}, nil); err != nil {
		return 0, err
	}
	return time.Duration(cur) * time.Second, nil
}

// RestoreTTL puts back the TTL LowerTTL kept.
func (p *Provider) RestoreTTL(ctx context.Context, host string) error {
	name, rs, err := p.current(ctx, host)
	if err != nil || rs == nil {
		return err
	}
	kept, ok := rs.Properties.Metadata[TTLTag]
	if !ok {
		return nil
	}
	old, err := strconv.ParseInt(kept, 10, 64)
	if err != nil || old <= 0 {
		return errors.New("record set " + name + ": metadata " + TTLTag + " is not a TTL: set the TTL by hand and remove it")
	}
	props := *rs.Properties
	props.Metadata = maps.Clone(rs.Properties.Metadata)
	delete(props.Metadata, TTLTag)
	props.TTL = old
	props.Fqdn = ""
	return p.arm.Call(ctx, http.MethodPut, p.recordPath(rs.Type, name), "restoring the TTL of "+host, RecordSet{Properties: &props}, nil)
}
