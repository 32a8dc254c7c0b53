// Package frontdoor is the traffic provider "frontdoor": it switches a
// name's traffic between clusters as the weighted origins of an Azure
// Front Door (Standard/Premium) origin group, through ARM's REST API for
// Microsoft.Cdn at api-version 2025-06-01 (its Go SDK module is not on
// the module proxy). The user's profile, endpoint and routes send each
// name to its origin group; upshift writes the group's origins. A weight
// is 1 to 1000; an origin that gets no traffic is Disabled. Front Door
// has no request that changes several origins at once, so a switch
// raises the origins that gain traffic before it lowers the others:
// some origin is always enabled.
package frontdoor
