package localfleet

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"upshift.dev/upshift/internal/procs"
	"upshift.dev/upshift/internal/toolchain"
)

// StartTimeout bounds each wait of `up` for a component to become ready.
const StartTimeout = 2 * time.Minute

// Up starts a cluster and waits until it is ready, with its node pools
// Ready. On a cluster that already runs as asked it does nothing; a cluster
// whose processes died (a reboot) is started again from its state. If
// anything fails, every process it started is stopped and a new cluster's
// state removed.
func (f *Fleet) Up(ctx context.Context, spec Spec) (*Cluster, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	release, err := toolchain.ResolveKubernetesVersion(spec.KubernetesVersion)
	if err != nil {
		return nil, err
	}
	if spec.NodeImage == "" {
		spec.NodeImage = DefaultNodeImage
	}
	if len(f.DaemonCommand) == 0 {
		return nil, errors.New("localfleet: DaemonCommand is not set")
	}
	if existing, err := f.Get(spec.Name); err == nil {
		return f.upExisting(ctx, existing, spec, release)
	} else if !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	// Build missing binaries before anything exists, so a build failure
	// leaves nothing behind.
	bins, err := f.binaries(ctx, release)
	if err != nil {
		return nil, err
	}
	unlockFleet, err := f.lockFleet()
	if err != nil {
		return nil, err
	}
	if _, err := f.Get(spec.Name); err == nil {
		unlockFleet()
		return nil, fmt.Errorf("the name %s was just taken by another `upshift local up`: pick another name", spec.Name)
	}
	c, err := f.create(spec, release)
	unlockFleet()
	if err != nil {
		return nil, err
	}
	unlock, err := f.lockCluster(c.Name)
	if err != nil {
		return nil, err
	}
	defer unlock()

	if err := f.start(ctx, c, bins, componentOrder); err != nil {
		return nil, f.abandon(c, err)
	}
	if err := f.createPools(ctx, c); err != nil {
		return nil, f.abandon(c, err)
	}
	c.Phase = PhaseRunning
	if err := c.save(); err != nil {
		return nil, f.abandon(c, err)
	}
	return c, nil
}

// create allocates ports and writes the state of a new cluster. The caller
// holds the fleet lock.
func (f *Fleet) create(spec Spec, release toolchain.Release) (*Cluster, error) {
	ports, err := f.allocatePorts(spec)
	if err != nil {
		return nil, err
	}
	c := &Cluster{
		Name:              spec.Name,
		KubernetesVersion: release.Version,
		Ports:             ports,
		Created:           time.Now().UTC().Truncate(time.Second),
		Phase:             PhaseStarting,
		UnsafeNoFsync:     spec.UnsafeNoFsync,
		dir:               f.clusterDir(spec.Name),
	}
	for _, p := range spec.NodePools {
		c.NodePools = append(c.NodePools, NodePool{Name: p.Name, Count: p.Count, KubernetesVersion: release.Version, NodeImage: spec.NodeImage})
	}
	for _, sub := range []string{"", "pki", "logs", "pids"} {
		if err := os.MkdirAll(c.path(sub), 0o700); err != nil {
			return nil, fmt.Errorf("creating state folder: %w", err)
		}
	}
	if err := c.save(); err != nil {
		os.RemoveAll(c.dir)
		return nil, err
	}
	if err := c.writePKI(); err != nil {
		os.RemoveAll(c.dir)
		return nil, err
	}
	return c, nil
}

// upExisting makes `up` idempotent: a running cluster as asked is left
// alone; one whose processes are gone is started again.
func (f *Fleet) upExisting(ctx context.Context, c *Cluster, spec Spec, release toolchain.Release) (*Cluster, error) {
	if c.KubernetesVersion != release.Version {
		return nil, fmt.Errorf("the name %s is %w by a local cluster at %s (asked: %s): pick another name, or `upshift local down %s` first", c.Name, ErrNameTaken, c.KubernetesVersion, release.Version, c.Name)
	}
	for _, p := range spec.NodePools {
		if _, ok := c.Pool(p.Name); !ok {
			return nil, fmt.Errorf("the name %s is %w by a local cluster without node pool %q: pick another name, or `upshift local down %s` first", c.Name, ErrNameTaken, p.Name, c.Name)
		}
	}
	unlock, err := f.lockCluster(c.Name)
	if err != nil {
		return nil, err
	}
	defer unlock()
	recs, err := procs.LoadDir(c.path("pids"))
	if err != nil {
		return nil, err
	}
	var dead []string
	for _, name := range componentOrder {
		if rec, ok := recs[name]; !ok || !rec.Alive() {
			dead = append(dead, name)
		}
	}
	if len(dead) == 0 && c.Phase == PhaseRunning {
		f.progress("local cluster %s is already running", c.Name)
		return c, nil
	}
	bins, err := f.binaries(ctx, release)
	if err != nil {
		return nil, err
	}
	f.progress("restarting %s of local cluster %s", strings.Join(dead, ", "), c.Name)
	if err := f.start(ctx, c, bins, dead); err != nil {
		_ = f.stop(c, componentOrder)
		return nil, err
	}
	if c.Phase == PhaseStarting {
		if err := f.createPools(ctx, c); err != nil {
			_ = f.stop(c, componentOrder)
			return nil, err
		}
	}
	c.Phase = PhaseRunning
	return c, c.save()
}

// abandon cleans up after a failed first `up` and returns its error.
func (f *Fleet) abandon(c *Cluster, cause error) error {
	if err := f.stop(c, componentOrder); err != nil {
		return fmt.Errorf("%w; and cleaning up failed: %w (run `upshift local down %s`)", cause, err, c.Name)
	}
	if err := os.RemoveAll(c.dir); err != nil {
		return fmt.Errorf("%w; and removing %s failed: %w", cause, c.dir, err)
	}
	return cause
}

// start launches the named components in order: etcd, then the API
// server, each ready before the next; the rest only need the API server,
// so they start together and are waited for together.
func (f *Fleet) start(ctx context.Context, c *Cluster, bins map[string]string, names []string) error {
	var started []procs.Record
	for _, name := range componentOrder {
		if !slices.Contains(names, name) {
			continue
		}
		f.progress("starting %s", name)
		if name == compKwok {
			// Written at each start, so a cluster made by an older upshift
			// gets the stages of the kwok it now runs.
			if err := os.WriteFile(c.path("kwok.yaml"), kwokStages, 0o600); err != nil {
				return err
			}
		}
		rec, err := procs.Start(f.componentSpec(c, name, bins), c.path("pids", name+".json"))
		if err != nil {
			return err
		}
		if name == compEtcd || name == compAPIServer {
			if err := f.waitReady(ctx, c, rec); err != nil {
				return err
			}
			continue
		}
		started = append(started, rec)
	}
	errs := make([]error, len(started))
	var wg sync.WaitGroup
	for i, rec := range started {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f.waitReady(ctx, c, rec)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// waitReady waits until a just-started component answers, failing early
// with its log when it dies.
func (f *Fleet) waitReady(ctx context.Context, c *Cluster, rec procs.Record) error {
	ctx, cancel := context.WithTimeout(ctx, StartTimeout)
	defer cancel()
	var check func(context.Context) error
	switch rec.Name {
	case compEtcd:
		client, err := c.etcdClient()
		if err != nil {
			return err
		}
		check = httpGetOK(client, fmt.Sprintf("%s://127.0.0.1:%d/health", c.etcdScheme(), c.Ports.EtcdClient), "")
	case compAPIServer:
		client, err := c.Client()
		if err != nil {
			return err
		}
		check = func(ctx context.Context) error {
			_, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
			return err
		}
	case compControllerManager:
		client, err := c.Client()
		if err != nil {
			return err
		}
		// The service-account controller makes default/default; pods need it.
		check = func(ctx context.Context) error {
			_, err := client.CoreV1().ServiceAccounts(metav1.NamespaceDefault).Get(ctx, "default", metav1.GetOptions{})
			return err
		}
	case compIngress:
		check = httpOK(c.IngressURL()+"/healthz", "")
	default:
		// The scheduler and kwok serve nothing we can ask; give them a moment
		// to fail on bad flags, then rely on the node and pod checks.
		check = func(ctx context.Context) error {
			if time.Since(rec.Started) < 300*time.Millisecond {
				return errors.New("starting")
			}
			return nil
		}
	}
	var last error
	for {
		if !rec.Alive() {
			return fmt.Errorf("%s of local cluster %s exited at start; its log %s ends with:\n%s", rec.Name, c.Name, c.path("logs", rec.Name+".log"), logTail(c.path("logs", rec.Name+".log"), 15))
		}
		if last = check(ctx); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("%s of local cluster %s was not ready within %s (%v); see %s", rec.Name, c.Name, StartTimeout, last, c.path("logs", rec.Name+".log"))
			}
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func httpOK(url, host string) func(context.Context) error {
	return httpGetOK(&http.Client{Timeout: 2 * time.Second}, url, host)
}

func httpGetOK(client *http.Client, url, host string) func(context.Context) error {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if host != "" {
			req.Host = host
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s answered %s", url, resp.Status)
		}
		return nil
	}
}

// createPools creates the nodes of every pool and waits for them to be
// Ready.
func (f *Fleet) createPools(ctx context.Context, c *Cluster) error {
	client, err := c.Client()
	if err != nil {
		return err
	}
	for _, p := range c.NodePools {
		have, err := poolNodes(ctx, client, p.Name)
		if err != nil {
			return err
		}
		if missing := p.Count - len(have); missing > 0 {
			f.progress("creating node pool %s: %d nodes at %s, image %s", p.Name, p.Count, p.KubernetesVersion, p.NodeImage)
			if _, err := CreateNodes(ctx, client, p, missing); err != nil {
				return err
			}
		}
	}
	return WaitNodesReady(ctx, client, "", StartTimeout)
}

func poolNodes(ctx context.Context, client kubernetes.Interface, pool string) ([]corev1.Node, error) {
	list, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: LabelNodePool + "=" + pool})
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("listing nodes of pool %s: %w", pool, err)
	}
	if list == nil {
		return nil, nil
	}
	return list.Items, nil
}

func logTail(path string, lines int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "(no log)"
	}
	parts := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}
