package localfleet

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"upshift.dev/upshift/internal/filelock"
	"upshift.dev/upshift/internal/names"
	"upshift.dev/upshift/internal/toolchain"
)

// Fleet is the set of local clusters under one home folder.
type Fleet struct {
	// Home holds one folder per cluster under clusters/.
	Home string
	// Tools finds or builds the binaries.
	Tools *toolchain.Cache
	// DaemonCommand is the argv prefix that runs upshift itself, for the
	// ingress stand-in daemon (["/usr/bin/upshift"]).
	DaemonCommand []string
	// Progress receives one line per step, for people; nil discards.
	Progress io.Writer
}

// NodeImagesPath is the fleet's node-image catalogue (a
// nodeimages.Feed); until an image is published it does not exist and the
// built-in catalogue applies.
func (f *Fleet) NodeImagesPath() string { return filepath.Join(f.Home, "node-images.yaml") }

// DefaultHome is $UPSHIFT_HOME, else .upshift in the user's home folder.
func DefaultHome() string {
	if dir := os.Getenv("UPSHIFT_HOME"); dir != "" {
		return dir
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".upshift")
	}
	return filepath.Join(os.TempDir(), "upshift-home")
}

func (f *Fleet) clustersDir() string { return filepath.Join(f.Home, "clusters") }

func (f *Fleet) clusterDir(name string) string { return filepath.Join(f.clustersDir(), name) }

func (f *Fleet) progress(format string, args ...any) {
	if f.Progress != nil {
		fmt.Fprintf(f.Progress, format+"\n", args...)
	}
}

// lockFleet serialises changes to the set of clusters (names, ports).
func (f *Fleet) lockFleet() (func(), error) {
	if err := os.MkdirAll(f.clustersDir(), 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", f.clustersDir(), err)
	}
	return filelock.Lock(filepath.Join(f.Home, "fleet.lock"))
}

// lockCluster serialises operations on one cluster across processes.
func (f *Fleet) lockCluster(name string) (func(), error) {
	if err := names.Label("local cluster", name); err != nil {
		return nil, err
	}
	unlock, err := filelock.TryLock(filepath.Join(f.clustersDir(), "."+name+".lock"))
	if errors.Is(err, filelock.ErrLocked) {
		return nil, fmt.Errorf("local cluster %s is being changed by another upshift process; wait for it to finish", name)
	}
	return unlock, err
}

// Get returns the record of a cluster.
func (f *Fleet) Get(name string) (*Cluster, error) {
	if err := names.Label("local cluster", name); err != nil {
		return nil, err
	}
	c, err := loadCluster(f.clusterDir(name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w %q: `upshift local list` shows the clusters there are", ErrNotFound, name)
	}
	return c, err
}

// Clusters returns every cluster record, sorted by name. Folders without
// a record (an `up` killed before it wrote one) are listed by name only.
func (f *Fleet) Clusters() ([]*Cluster, error) {
	entries, err := os.ReadDir(f.clustersDir())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []*Cluster
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		c, err := loadCluster(filepath.Join(f.clustersDir(), e.Name()))
		if err != nil {
			c = &Cluster{Name: e.Name(), Phase: "Broken", dir: filepath.Join(f.clustersDir(), e.Name())}
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// RESTConfig returns the admin client configuration of a cluster.
func (c *Cluster) RESTConfig() (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", c.KubeconfigPath())
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig of local cluster %s: %w", c.Name, err)
	}
	cfg.QPS, cfg.Burst = 500, 1000
	return cfg, nil
}

// Client returns an admin clientset for a cluster.
func (c *Cluster) Client() (kubernetes.Interface, error) {
	cfg, err := c.RESTConfig()
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(cfg)
}
