package toolchain

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"upshift.dev/upshift/internal/filelock"
	"upshift.dev/upshift/tools"
)

// Binary is one local fleet binary and how to build it.
type Binary struct {
	Name    string // kube, etcd, kwok
	Version string // the release it runs, e.g. v1.34.4

	dir     string   // folder in tools.Sources
	modfile string   // modfile name in dir; its .sum sits beside it
	pkg     string   // package to build, relative to the module
	ldflags []string // -X flags
}

// Kube is the control-plane binary of a Kubernetes release.
func Kube(r Release) Binary {
	major, minor, _ := strings.Cut(r.Minor, ".")
	var ldflags []string
	for _, pkg := range []string{"k8s.io/component-base/version", "k8s.io/client-go/pkg/version"} {
		ldflags = append(ldflags,
			"-X", pkg+".gitVersion="+r.Version,
			"-X", pkg+".gitMajor="+major,
			"-X", pkg+".gitMinor="+minor,
			"-X", pkg+".gitTreeState=clean",
			"-X", pkg+".buildDate=1970-01-01T00:00:00Z",
		)
	}
	return Binary{Name: "kube", Version: r.Version, dir: "kube", modfile: "v" + r.Minor + ".mod", pkg: ".", ldflags: ldflags}
}

// Etcd is the etcd server.
func Etcd() Binary {
	return Binary{Name: "etcd", Version: EtcdVersion, dir: "etcd", modfile: "etcd.mod", pkg: "."}
}

// Kwok is the kwok controller that stands in for kubelets.
func Kwok() Binary {
	return Binary{Name: "kwok", Version: KwokVersion, dir: "kwok", modfile: "kwok.mod", pkg: "sigs.k8s.io/kwok/cmd/kwok"}
}

// All lists every binary the local fleet needs.
func All() []Binary {
	bins := []Binary{Etcd(), Kwok()}
	for _, r := range Releases {
		bins = append(bins, Kube(r))
	}
	return bins
}

// String names the binary for people.
func (b Binary) String() string { return b.Name + " " + b.Version }

// sources returns the files of the binary's module, as they go on disk.
func (b Binary) sources() (map[string][]byte, error) {
	files := map[string][]byte{}
	read := func(name, as string) error {
		data, err := fs.ReadFile(tools.Sources, b.dir+"/"+name)
		if err != nil {
			return err
		}
		files[as] = data
		return nil
	}
	if err := read(b.modfile, "go.mod"); err != nil {
		return nil, err
	}
	if err := read(strings.TrimSuffix(b.modfile, ".mod")+".sum", "go.sum"); err != nil {
		return nil, err
	}
	if b.pkg == "." {
		if err := read("main.go", "main.go"); err != nil {
			return nil, err
		}
		// Drop the "ignore" build tag that keeps the upshift module from
		// building this file.
		files["main.go"] = bytes.Replace(files["main.go"], []byte("//go:build ignore\n"), nil, 1)
	}
	return files, nil
}

// key names the binary in the cache: its version and a digest of the
// pinned module files, so that a re-pin builds anew.
func (b Binary) key() (string, error) {
	files, err := b.sources()
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, name := range []string{"go.mod", "go.sum", "main.go"} {
		fmt.Fprintf(h, "%s\x00%s\x00", name, files[name])
	}
	fmt.Fprintf(h, "%q", b.ldflags)
	return fmt.Sprintf("%s-%s-%s", b.Name, b.Version, hex.EncodeToString(h.Sum(nil))[:10]), nil
}

// Cache builds binaries once into Dir and finds them there afterwards.
type Cache struct {
	Dir string
	// Log receives one line per build, for people; nil discards it.
	Log io.Writer
}

// DefaultCacheDir is $UPSHIFT_CACHE, else upshift under the user's cache
// folder.
func DefaultCacheDir() string {
	if dir := os.Getenv("UPSHIFT_CACHE"); dir != "" {
		return dir
	}
	if dir, err := os.UserCacheDir(); err == nil {
		return filepath.Join(dir, "upshift")
	}
	return filepath.Join(os.TempDir(), "upshift-cache")
}

// Path is where the binary lives in the cache, built or not.
func (c *Cache) Path(b Binary) (string, error) {
	key, err := b.key()
	if err != nil {
		return "", err
	}
	return filepath.Join(c.Dir, "bin", key), nil
}

// Built reports whether the binary is in the cache.
func (c *Cache) Built(b Binary) bool {
	path, err := c.Path(b)
	if err != nil {
		return false
	}
	_, err = os.Stat(path)
	return err == nil
}

// Ensure returns the path of the binary, building it first if the cache
// lacks it. Concurrent callers, in this process or others, build it once.
func (c *Cache) Ensure(ctx context.Context, b Binary) (string, error) {
	path, err := c.Path(b)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	for _, dir := range []string{"bin", "src", "locks"} {
		if err := os.MkdirAll(filepath.Join(c.Dir, dir), 0o755); err != nil {
			return "", fmt.Errorf("creating the binary cache %s: %w", c.Dir, err)
		}
	}
	key := filepath.Base(path)
	unlock, err := filelock.LockContext(ctx, filepath.Join(c.Dir, "locks", key+".lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, err := os.Stat(path); err == nil {
		return path, nil // another process built it while we waited
	}
	if err := c.build(ctx, b, key, path); err != nil {
		return "", err
	}
	return path, nil
}

// EnsureAll builds every missing binary, one at a time (each build already
// uses every core).
func (c *Cache) EnsureAll(ctx context.Context) error {
	for _, b := range All() {
		if _, err := c.Ensure(ctx, b); err != nil {
			return err
		}
	}
	return nil
}

func (c *Cache) build(ctx context.Context, b Binary, key, path string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("%s is not built yet and building it needs the Go toolchain, which is not on PATH: install Go or run `make tools` on a machine that has it (cache: %s)", b, c.Dir)
	}
	files, err := b.sources()
	if err != nil {
		return err
	}
	src := filepath.Join(c.Dir, "src", key)
	if err := os.MkdirAll(src, 0o755); err != nil {
		return err
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(src, name), data, 0o644); err != nil {
			return err
		}
	}
	if c.Log != nil {
		fmt.Fprintf(c.Log, "building %s from the official Go modules into %s (once per machine; several minutes cold)\n", b, filepath.Join(c.Dir, "bin"))
	}
	tmp := path + ".tmp"
	args := []string{"build", "-trimpath", "-o", tmp}
	args = append(args, "-ldflags", strings.Join(append([]string{"-s", "-w"}, b.ldflags...), " "))
	args = append(args, b.pkg)
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly", "CGO_ENABLED=0")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("building %s failed (sources in %s): %w\n%s", b, src, err, tail(out.String(), 20))
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("installing %s into the cache: %w", b, err)
	}
	return nil
}

func tail(s string, lines int) string {
	parts := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}
