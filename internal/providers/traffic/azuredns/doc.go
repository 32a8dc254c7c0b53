// Package azuredns is the traffic provider for Azure DNS: the cluster name
// is a record set of a zone, pointed at one cluster at a time by its A
// records or its CNAME (DNS cannot split traffic, so weights are 0 or 100).
// A name holds a CNAME or A records, never both, so a switch between a
// CNAME target and an A target deletes the other record set after writing
// the new one's. The TTL is lowered ahead of a switch and restored after
// it; the record's own TTL is kept in the record set's metadata, so a
// killed run still waits out, and restores, the right one.
//
// The SDK module for Azure DNS is not on the module proxy this project
// builds from: requests go through azcore's ARM pipeline
// (azurearm.REST) with the REST shapes of api-version 2018-05-01
// (Microsoft.Network/dnsZones).
package azuredns
