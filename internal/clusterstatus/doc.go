// Package clusterstatus fills a fleet cluster's status as its provider and
// its own API server show it now (`upshift fleet`): version, node pools,
// and whether upshift can reach it. It is apart from the provider
// interface so that the packages naming the interface do not pull in the
// discovery client.
package clusterstatus
