package localfleet

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"upshift.dev/upshift/internal/names"
	"upshift.dev/upshift/internal/procs"
)

// stopGrace is how long a component gets to exit on SIGTERM before it is
// killed. kube-apiserver would wait a minute for open watches (kwok's, the
// ingress stand-in's) to close; its state is in etcd, so it gets a short
// grace that still lets in-flight writes finish.
func stopGrace(component string) time.Duration {
	if component == compAPIServer {
		return 2 * time.Second
	}
	return 10 * time.Second
}

// Down stops every process of a cluster and removes its state. The name
// must be a cluster's name (a DNS label): ".", ".." or a path never
// reaches the file system.
func (f *Fleet) Down(name string) error {
	if err := names.Label("local cluster", name); err != nil {
		return err
	}
	c, err := f.Get(name)
	if errors.Is(err, ErrNotFound) {
		// A folder without a record is an `up` killed before it wrote one.
		if _, statErr := os.Stat(f.clusterDir(name)); statErr != nil {
			return err
		}
		c = &Cluster{Name: name, dir: f.clusterDir(name)}
	} else if err != nil {
		return err
	}
	unlock, err := f.lockCluster(name)
	if err != nil {
		return err
	}
	defer unlock()
	if err := f.stop(c, componentOrder); err != nil {
		return err
	}
	if err := os.RemoveAll(c.dir); err != nil {
		return fmt.Errorf("removing the state of local cluster %s: %w", name, err)
	}
	return nil
}

// DownAll stops and removes every local cluster.
func (f *Fleet) DownAll() ([]string, error) {
	clusters, err := f.Clusters()
	if err != nil {
		return nil, err
	}
	var names []string
	var errs []error
	for _, c := range clusters {
		if err := f.Down(c.Name); err != nil {
			errs = append(errs, err)
			continue
		}
		names = append(names, c.Name)
	}
	return names, errors.Join(errs...)
}

// stop stops the named components in reverse start order.
func (f *Fleet) stop(c *Cluster, names []string) error {
	recs, err := procs.LoadDir(c.path("pids"))
	if err != nil {
		return err
	}
	var errs []error
	order := slices.Clone(componentOrder)
	slices.Reverse(order)
	for _, name := range order {
		rec, ok := recs[name]
		if !ok || !slices.Contains(names, name) {
			continue
		}
		if err := rec.Stop(stopGrace(name)); err != nil {
			errs = append(errs, err)
			continue
		}
		_ = os.Remove(c.path("pids", name+".json"))
	}
	return errors.Join(errs...)
}
