package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
	"time"

	"github.com/miekg/dns"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/providers/traffic"
)

// Type names this provider in configuration.
const Type = "dns"

// Target is what the switched name points to for one backend: A records
// or a CNAME.
type Target struct {
	A     []string
	CNAME string
}

// Config says which server, zone and key to use.
type Config struct {
	// Server is the primary's host:port.
	Server string
	// Zone, e.g. "example.com.".
	Zone string
	// TSIG key: name, algorithm (default hmac-sha256) and base64 secret.
	// The secret is never logged.
	KeyName, KeyAlgorithm, KeySecret string
	// Targets maps each backend to its record data.
	Targets map[string]Target
	// TTL is the record's normal TTL; SwitchTTL the low one used around a
	// switch (default 30 s).
	TTL, SwitchTTL uint32
	// Timeout of each exchange (default 3 s).
	Timeout time.Duration
}

// Provider switches records on one DNS server.
type Provider struct{ cfg Config }

var (
	_ traffic.Provider   = (*Provider)(nil)
	_ traffic.TTLManager = (*Provider)(nil)
)

// New checks the configuration and returns a provider.
func New(cfg Config) (*Provider, error) {
	if _, _, err := net.SplitHostPort(cfg.Server); err != nil {
		return nil, fmt.Errorf("dns server %q: write host:port: %w", cfg.Server, err)
	}
	if cfg.KeyName == "" || cfg.KeySecret == "" {
		return nil, errors.New("dns: a TSIG key name and secret are required: RFC 2136 updates must be signed")
	}
	if len(cfg.Targets) < 2 {
		return nil, errors.New("dns: name at least two targets (blue and green)")
	}
	for name, t := range cfg.Targets {
		if (len(t.A) == 0) == (t.CNAME == "") {
			return nil, fmt.Errorf("dns: target %s needs A records or a CNAME, not both", name)
		}
		for _, a := range t.A {
			if ip := net.ParseIP(a); ip == nil || ip.To4() == nil {
				return nil, fmt.Errorf("dns: target %s: %q is not an IPv4 address", name, a)
			}
		}
	}
	cfg.Zone = dns.Fqdn(cfg.Zone)
	cfg.KeyName = dns.Fqdn(cfg.KeyName)
	if cfg.KeyAlgorithm == "" {
		cfg.KeyAlgorithm = dns.HmacSHA256
	}
	if cfg.TTL == 0 {
		cfg.TTL = 300
	}
	if cfg.SwitchTTL == 0 {
		cfg.SwitchTTL = 30
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 3 * time.Second
	}
	return &Provider{cfg: cfg}, nil
}

// Record is what the name answers now.
type Record struct {
	Backend string // the target it matches, "" if none
	TTL     uint32
	Data    []string // A addresses or the CNAME target
}

// Lookup asks the server what the name answers.
func (p *Provider) Lookup(ctx context.Context, name string) (Record, error) {
	name = dns.Fqdn(name)
	var rec Record
	for _, qtype := range []uint16{dns.TypeCNAME, dns.TypeA} {
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		in, err := p.exchange(ctx, m, false)
		if err != nil {
			return Record{}, err
		}
		for _, rr := range in.Answer {
			switch v := rr.(type) {
			case *dns.CNAME:
				rec.Data = append(rec.Data, v.Target)
				rec.TTL = v.Hdr.Ttl
			case *dns.A:
				if qtype == dns.TypeA {
					rec.Data = append(rec.Data, v.A.String())
					rec.TTL = v.Hdr.Ttl
				}
			}
		}
		if len(rec.Data) > 0 {
			break
		}
	}
	sort.Strings(rec.Data)
	for backend, t := range p.cfg.Targets {
		if strings.Join(rec.Data, ",") == strings.Join(p.data(t), ",") {
			rec.Backend = backend
		}
	}
	return rec, nil
}

func (p *Provider) data(t Target) []string {
	if t.CNAME != "" {
		return []string{dns.Fqdn(t.CNAME)}
	}
	out := append([]string{}, t.A...)
	sort.Strings(out)
	return out
}

// Weights reports 100 for the backend the name points to.
func (p *Provider) Weights(ctx context.Context, name string) (traffic.Weights, error) {
	rec, err := p.Lookup(ctx, name)
	if err != nil {
		return nil, err
	}
	if rec.Backend == "" {
		return nil, fmt.Errorf("%s answers %v, which is none of the targets", name, rec.Data)
	}
	w := traffic.Weights{}
	for backend := range p.cfg.Targets {
		w[backend] = 0
	}
	w[rec.Backend] = 100
	return w, nil
}

// LowerTTL rewrites the name's current record with the switch TTL and
// returns how long resolvers may still hold the old TTL: wait that long
// before switching for clients to follow quickly.
func (p *Provider) LowerTTL(ctx context.Context, name string) (time.Duration, error) {
	rec, err := p.Lookup(ctx, name)
	if err != nil {
		return 0, err
	}
	if rec.Backend == "" {
		return 0, fmt.Errorf("%s answers %v, which is none of the targets", name, rec.Data)
	}
	if err := p.replace(ctx, name, p.cfg.Targets[rec.Backend], p.cfg.SwitchTTL); err != nil {
		return 0, err
	}
	return time.Duration(rec.TTL) * time.Second, nil
}

// RestoreTTL puts the normal TTL back on the name's current record.
func (p *Provider) RestoreTTL(ctx context.Context, name string) error {
	rec, err := p.Lookup(ctx, name)
	if err != nil {
		return err
	}
	if rec.Backend == "" {
		return fmt.Errorf("%s answers %v, which is none of the targets", name, rec.Data)
	}
	return p.replace(ctx, name, p.cfg.Targets[rec.Backend], p.cfg.TTL)
}

// Switch points the name at the backend weighted 100, keeping the TTL it
// has, and checks the server answers with it.
func (p *Provider) Switch(ctx context.Context, name string, w traffic.Weights) error {
	if err := w.Validate(); err != nil {
		return err
	}
	to := ""
	for backend, v := range w {
		if v != 0 && v != 100 {
			return fmt.Errorf("DNS cannot split traffic: give one backend 100 and the others 0 (got %s)", w)
		}
		if v == 100 {
			to = backend
		}
	}
	t, ok := p.cfg.Targets[to]
	if !ok {
		return fmt.Errorf("no DNS target for backend %q", to)
	}
	cur, err := p.Lookup(ctx, name)
	if err != nil {
		return err
	}
	ttl := cur.TTL
	if ttl == 0 {
		ttl = p.cfg.TTL
	}
	if err := p.replace(ctx, name, t, ttl); err != nil {
		return err
	}
	got, err := p.Lookup(ctx, name)
	if err != nil {
		return fmt.Errorf("verifying the switch of %s: %w", name, err)
	}
	if got.Backend != to {
		return fmt.Errorf("after the update %s answers %v, not %s's %v", name, got.Data, to, p.data(t))
	}
	return nil
}

// replace swaps every record of the name for the target's, in one
// signed UPDATE.
func (p *Provider) replace(ctx context.Context, name string, t Target, ttl uint32) error {
	name = dns.Fqdn(name)
	m := new(dns.Msg)
	m.SetUpdate(p.cfg.Zone)
	m.RemoveRRset([]dns.RR{&dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET}}})
	m.RemoveRRset([]dns.RR{&dns.CNAME{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeCNAME, Class: dns.ClassINET}}})
	var rrs []dns.RR
	hdr := func(rrtype uint16) dns.RR_Header {
		return dns.RR_Header{Name: name, Rrtype: rrtype, Class: dns.ClassINET, Ttl: ttl}
	}
	if t.CNAME != "" {
		rrs = append(rrs, &dns.CNAME{Hdr: hdr(dns.TypeCNAME), Target: dns.Fqdn(t.CNAME)})
	}
	for _, a := range t.A {
		rrs = append(rrs, &dns.A{Hdr: hdr(dns.TypeA), A: net.ParseIP(a).To4()})
	}
	m.Insert(rrs)
	_, err := p.exchange(ctx, m, true)
	return err
}

func (p *Provider) exchange(ctx context.Context, m *dns.Msg, signed bool) (*dns.Msg, error) {
	c := &dns.Client{Net: "tcp", Timeout: p.cfg.Timeout}
	if signed {
		c.TsigSecret = map[string]string{p.cfg.KeyName: p.cfg.KeySecret}
		m.SetTsig(p.cfg.KeyName, p.cfg.KeyAlgorithm, 300, time.Now().Unix())
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	in, _, err := c.ExchangeContext(ctx, m, p.cfg.Server)
	if err != nil {
		if errors.Is(err, dns.ErrAuth) || errors.Is(err, dns.ErrSig) || errors.Is(err, dns.ErrSecret) || errors.Is(err, dns.ErrKeyAlg) {
			return nil, fmt.Errorf("DNS server %s rejected the TSIG signature: check the key name and secret: %w", p.cfg.Server, err)
		}
		return nil, fmt.Errorf("DNS server %s: %w", p.cfg.Server, err)
	}
	if in.Rcode != dns.RcodeSuccess {
		hint := ""
		switch in.Rcode {
		case dns.RcodeNotAuth, dns.RcodeRefused:
			hint = ": check the TSIG key (name, algorithm, secret) and the zone's allow-update"
		case dns.RcodeNotZone:
			hint = ": the name is not in zone " + p.cfg.Zone
		}
		return nil, fmt.Errorf("DNS server %s answered %s%s", p.cfg.Server, dns.RcodeToString[in.Rcode], hint)
	}
	return in, nil
}

// FromSpec builds the provider of a run's traffic spec, reading the TSIG
// secret from its file.
func FromSpec(t v1alpha1.TrafficSpec) (traffic.Provider, error) {
	d := t.DNS
	if d == nil {
		return nil, fmt.Errorf("spec.blueGreen.traffic.dns is required with provider dns")
	}
	if d.KeySecretFile == "" && d.KeySecretRef != nil {
		return nil, fmt.Errorf("spec.blueGreen.traffic.dns.keySecretRef is read by a hub: run it on a hub (its --context), or give keySecretFile")
	}
	secret, err := traffic.ReadSecret(d.KeySecretFile, "spec.blueGreen.traffic.dns.keySecretFile")
	if err != nil {
		return nil, err
	}
	cfg := Config{Server: d.Server, Zone: d.Zone, KeyName: d.KeyName, KeyAlgorithm: d.KeyAlgorithm, KeySecret: secret, TTL: d.TTL, SwitchTTL: d.SwitchTTL, Targets: map[string]Target{}}
	for name, tg := range d.Targets {
		cfg.Targets[name] = Target{A: tg.A, CNAME: tg.CNAME}
	}
	return New(cfg)
}
