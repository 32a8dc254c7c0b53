// Command upshift-image builds upshift's OCI image without a container
// runtime (internal/image); `make image` runs it.
package main

import (
	"os"

	"upshift.dev/upshift/internal/image"
)

func main() {
	os.Exit(image.Main(os.Args[1:], os.Stdout, os.Stderr))
}
