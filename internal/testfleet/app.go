package testfleet

import (
	"testing"
	"time"

	"upshift.dev/upshift/internal/ingress"
	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/sampleapp"
)

// Serve deploys the sample app on a cluster and waits until every replica
// is available and answers through the cluster's ingress.
func Serve(t testing.TB, c *localfleet.Cluster, app sampleapp.App) {
	t.Helper()
	ctx := t.Context()
	client, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	if err := app.Deploy(ctx, client); err != nil {
		t.Fatal(err)
	}
	if err := app.WaitAvailable(ctx, client, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := ingress.WaitServed(ctx, c.IngressURL(), app.Host, int(app.Replicas), time.Minute); err != nil {
		t.Fatal(err)
	}
}
