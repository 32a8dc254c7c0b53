package nodeimages

import "context"

// Source is a cluster provider with a node-image catalogue: the images
// its pools can run, with release dates and the CVEs each fixes.
// Node-image runs, `upshift patch`, schedules and the compliance report
// read it.
type Source interface {
	NodeImages(ctx context.Context) (*Feed, error)
}
