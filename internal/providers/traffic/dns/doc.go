// Package dns is the traffic provider that switches a cluster name's DNS
// record between clusters with RFC 2136 dynamic updates signed with TSIG
// (github.com/miekg/dns): the record's A or CNAME data is replaced in one
// UPDATE message, so resolvers see the old answer or the new one. DNS
// cannot split traffic, so weights are 0 or 100. The TTL is lowered ahead
// of a switch and restored after it, so clients move quickly.
package dns
