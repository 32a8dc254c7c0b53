package image

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Main is the upshift-image command: build the image from one static
// binary per platform, then write it as an OCI layout, a tarball, or push
// it. It returns the process's exit code: 0, 1 when the build or the
// publishing failed, 2 when the arguments are wrong.
func Main(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("upshift-image", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `Build upshift's OCI image without a container runtime.

Usage:
  upshift-image --version V --binary linux/amd64=PATH [--binary linux/arm64=PATH] [--oci-layout DIR] [--tarball FILE --tag REF] [--push REF]

Flags:
`)
		fs.PrintDefaults()
	}
	var binaries []string
	fs.Func("binary", "PLATFORM=PATH of a static upshift built for it (CGO_ENABLED=0); repeat for each platform", func(s string) error {
		binaries = append(binaries, s)
		return nil
	})
	version := fs.String("version", "", "the image's version label (the chart's appVersion)")
	commit := fs.String("commit", "", "the commit its binary was built from")
	certs := fs.String("ca-certificates", CACertificates, "CA bundle copied into the image")
	layoutDir := fs.String("oci-layout", "", "write the multi-platform index as an OCI layout in this folder")
	tarballPath := fs.String("tarball", "", "write the image (one platform only) as a tarball for docker load / kind load image-archive")
	tag := fs.String("tag", "", "the tarball's tag, e.g. ghcr.io/upshift-dev/upshift:0.1.0")
	push := fs.String("push", "", "push the index to this reference, e.g. REGISTRY/upshift:0.1.0 (credentials of docker login)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	usage := func(msg string) int {
		fmt.Fprintf(stderr, "upshift-image: %s\n", msg)
		return 2
	}
	switch {
	case len(binaries) == 0:
		return usage("--binary PLATFORM=PATH is required")
	case *layoutDir == "" && *tarballPath == "" && *push == "":
		return usage("say where the image goes: --oci-layout DIR, --tarball FILE or --push REF")
	case *tarballPath != "" && (*tag == "" || len(binaries) != 1):
		return usage("--tarball takes one --binary and a --tag")
	}
	created, err := sourceDate()
	if err != nil {
		return usage(err.Error())
	}
	var images []v1.Image
	for _, b := range binaries {
		platform, path, ok := strings.Cut(b, "=")
		if !ok {
			return usage(fmt.Sprintf("--binary %q: want PLATFORM=PATH, e.g. linux/amd64=bin/upshift-linux-amd64", b))
		}
		img, err := Build(Options{Binary: path, Platform: platform, CACertificates: *certs, Version: *version, Commit: *commit, Created: created})
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		images = append(images, img)
	}
	idx, err := Index(images...)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	digest, err := idx.Digest()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if *layoutDir != "" {
		if err := WriteLayout(*layoutDir, idx); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		fmt.Fprintf(stdout, "wrote %s (OCI layout, index %s)\n", *layoutDir, digest)
	}
	if *tarballPath != "" {
		if err := WriteTarball(*tarballPath, *tag, images[0]); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		fmt.Fprintf(stdout, "wrote %s (%s)\n", *tarballPath, *tag)
	}
	if *push != "" {
		ref, err := Push(*push, idx)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		fmt.Fprintf(stdout, "pushed %s@%s\n", ref, digest)
	}
	return 0
}

// sourceDate is SOURCE_DATE_EPOCH (reproducible-builds.org) as a time, or
// zero when unset.
func sourceDate() (time.Time, error) {
	s := os.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		return time.Time{}, nil
	}
	secs, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q: want seconds since 1970", s)
	}
	return time.Unix(secs, 0), nil
}
