package nodeimages

import "context"

// Source is a cluster provider with a node-image catalogue: the images
// its pools can run, with release dates and the CVEs each fixes.
// Node-image runs, `upshift patch`, schedules and the compliance report
// read it.
type Source interface {
	NodeImages(ctx context.Context) (*Feed, error)
}

// PoolSource is a provider that names, pool by pool, the newest node image
// the pool can move to, and keeps no catalogue of releases or CVEs: AKS,
// whose agent pools each have an upgrade profile naming theirs (pools of
// different OS images move to different images). An image it names comes
// with no release date and no CVE data; those stay in a catalogue.
type PoolSource interface {
	NewestPoolImage(ctx context.Context, cluster, pool string) (string, error)
}
