// Package trafficmanager is the traffic provider for Azure Traffic
// Manager: a route is a profile with the Weighted routing method, its
// backends the profile's external endpoints. A weight of 0 is a Disabled
// endpoint (Traffic Manager weights run from 1 to 1000), so blue-green and
// canary steps are one operation: set each endpoint's status and weight.
// The profile's DNS TTL is lowered ahead of a switch and restored after it,
// the original kept in a tag on the profile, so a killed run restores it.
//
// The SDK module for Traffic Manager is not on the module proxy this
// project builds from, so requests go through azcore's ARM pipeline
// (credentials, retries, Retry-After) with the documented REST shapes of
// api-version 2022-04-01 (Microsoft.Network/trafficmanagerprofiles).
package trafficmanager
