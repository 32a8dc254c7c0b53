package image

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Where things are in the image.
const (
	// Binary is the path of upshift in the image, its entrypoint.
	Binary = "/usr/local/bin/upshift"
	// CACertificates is where Go's crypto/x509 looks first on Linux.
	CACertificates = "/etc/ssl/certs/ca-certificates.crt"
	// User is the image's user and group: the "nonroot" of distroless
	// images, so that runAsNonRoot holds without a numeric override.
	User = "65532:65532"
	// Home is the non-root user's home.
	Home = "/home/nonroot"
)

// The OCI labels (and manifest annotations) the image carries.
const (
	LabelTitle    = "org.opencontainers.image.title"
	LabelVersion  = "org.opencontainers.image.version"
	LabelRevision = "org.opencontainers.image.revision"
	LabelSource   = "org.opencontainers.image.source"
	LabelLicenses = "org.opencontainers.image.licenses"
	LabelCreated  = "org.opencontainers.image.created"
)

// Source is the repository the labels name.
const Source = "https://github.com/upshift-dev/upshift"

// Options says what goes into one image.
type Options struct {
	// Binary is the path of a static upshift built for Platform
	// (CGO_ENABLED=0 GOOS=linux).
	Binary string
	// Platform is the binary's, "linux/amd64" by default.
	Platform string
	// CACertificates is the bundle copied into the image; the build
	// machine's /etc/ssl/certs/ca-certificates.crt by default.
	CACertificates string
	// Version and Commit go into the labels; Version is required.
	Version, Commit string
	// Created stamps the image and its files; the Unix epoch by default,
	// so that a build is reproducible (pass the commit's time for a
	// meaningful date, as SOURCE_DATE_EPOCH does).
	Created time.Time
}

// Build makes the image Options describe.
func Build(o Options) (v1.Image, error) {
	if o.Version == "" {
		return nil, errors.New("image: a version is required (it names the image in its labels and the chart's appVersion)")
	}
	if o.Platform == "" {
		o.Platform = "linux/amd64"
	}
	platform, err := v1.ParsePlatform(o.Platform)
	if err != nil {
		return nil, fmt.Errorf("image: platform %q: %w", o.Platform, err)
	}
	if platform.OS != "linux" {
		return nil, fmt.Errorf("image: platform %q: only linux images are built", o.Platform)
	}
	if o.CACertificates == "" {
		o.CACertificates = CACertificates
	}
	bin, err := readExecutable(o.Binary)
	if err != nil {
		return nil, err
	}
	certs, err := os.ReadFile(o.CACertificates)
	if err != nil {
		return nil, fmt.Errorf("image: CA certificates: %w (install Debian's ca-certificates or pass another bundle)", err)
	}
	created := o.Created.UTC()
	if created.IsZero() {
		created = time.Unix(0, 0).UTC()
	}
	files, err := rootfs(bin, certs, created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(files)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("image: layer: %w", err)
	}
	img, err := mutate.Append(empty.Image, mutate.Addendum{
		Layer:     layer,
		History:   v1.History{Created: v1.Time{Time: created}, CreatedBy: "upshift-image", Comment: "upshift " + o.Version},
		MediaType: types.OCILayer,
	})
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	cf = cf.DeepCopy()
	labels := Labels(o.Version, o.Commit, created)
	cf.Architecture, cf.OS, cf.Variant = platform.Architecture, platform.OS, platform.Variant
	cf.Created = v1.Time{Time: created}
	cf.Config = v1.Config{
		Entrypoint: []string{Binary},
		User:       User,
		WorkingDir: Home,
		Env:        []string{"HOME=" + Home, "PATH=/usr/local/bin:/usr/bin:/bin"},
		Labels:     labels,
	}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	return mutate.Annotations(img, labels).(v1.Image), nil
}

// Labels are the OCI labels of an image of this version and commit.
func Labels(version, commit string, created time.Time) map[string]string {
	l := map[string]string{
		LabelTitle:    "upshift",
		LabelVersion:  version,
		LabelSource:   Source,
		LabelLicenses: "Apache-2.0",
		LabelCreated:  created.UTC().Format(time.RFC3339),
	}
	if commit != "" {
		l[LabelRevision] = commit
	}
	return l
}

// readExecutable reads a static Linux executable, refusing what cannot run
// in the image: a missing file, a script, another OS's binary, or a
// dynamically linked build (the image has no loader and no C library).
func readExecutable(path string) ([]byte, error) {
	if path == "" {
		return nil, errors.New("image: the upshift binary is required (build it with CGO_ENABLED=0 GOOS=linux)")
	}
	f, err := elf.Open(path)
	if err != nil {
		var fe *elf.FormatError
		if errors.As(err, &fe) {
			return nil, fmt.Errorf("image: %s is not a Linux executable (build it with GOOS=linux)", path)
		}
		return nil, fmt.Errorf("image: %w", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return nil, fmt.Errorf("image: %s is dynamically linked and the image has no C library (build it with CGO_ENABLED=0)", path)
		}
	}
	return os.ReadFile(path)
}

// rootfs is the layer's tar: directories, the binary, the certificates,
// the user, and a world-writable /tmp, every entry stamped with created.
func rootfs(bin, certs []byte, created time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dir := func(name string, mode int64, uid int) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, ModTime: created, Uid: uid, Gid: uid, Format: tar.FormatPAX})
	}
	file := func(name string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: created, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	nonroot := 65532
	steps := []func() error{
		func() error { return dir("etc", 0o755, 0) },
		func() error { return dir("etc/ssl", 0o755, 0) },
		func() error { return dir("etc/ssl/certs", 0o755, 0) },
		func() error { return file(strings.TrimPrefix(CACertificates, "/"), 0o644, certs) },
		func() error {
			return file("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:"+Home+":/sbin/nologin\n"))
		},
		func() error { return file("etc/group", 0o644, []byte("root:x:0:\nnonroot:x:65532:\n")) },
		func() error { return dir("home", 0o755, 0) },
		func() error { return dir(strings.TrimPrefix(Home, "/"), 0o700, nonroot) },
		func() error { return dir("tmp", 0o1777, 0) },
		func() error { return dir("usr", 0o755, 0) },
		func() error { return dir("usr/local", 0o755, 0) },
		func() error { return dir("usr/local/bin", 0o755, 0) },
		func() error { return file(strings.TrimPrefix(Binary, "/"), 0o755, bin) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, fmt.Errorf("image: layer: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("image: layer: %w", err)
	}
	return buf.Bytes(), nil
}
