package bench

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"upshift.dev/upshift/internal/cli"
	"upshift.dev/upshift/internal/testfleet"
)

// BenchmarkDemoFleetRun is `make demo` end to end: three clusters up with
// their apps, then a three-stage update run (two 5 s soaks and an approval)
// under sampled traffic, to the report.
func BenchmarkDemoFleetRun(b *testing.B) {
	home := testfleet.Fleet(b).Home
	for i := 0; i < b.N; i++ {
		var out, errOut bytes.Buffer
		code := cli.Main(context.Background(), []string{"demo", "--home", home}, cli.Streams{In: strings.NewReader(""), Out: &out, Err: &errOut})
		if code != 0 || !strings.Contains(out.String(), "NEVER BELOW PDB") {
			b.Fatalf("demo exited %d:\n%s\n%s", code, out.String(), errOut.String())
		}
	}
}
