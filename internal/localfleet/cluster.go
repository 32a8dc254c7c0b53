package localfleet

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"upshift.dev/upshift/internal/atomicfile"
)

// Cluster is the record of one local cluster, kept in its folder.
type Cluster struct {
	Name              string     `json:"name"`
	KubernetesVersion string     `json:"kubernetesVersion"` // e.g. v1.34.4
	Ports             Ports      `json:"ports"`
	NodePools         []NodePool `json:"nodePools"`
	Created           time.Time  `json:"created"`
	// Phase is Starting until the first `up` finished, then Running; an
	// Upgrading cluster is restarting its control plane.
	Phase string `json:"phase"`
	// UnsafeNoFsync runs etcd without fsync (local up --unsafe-no-fsync,
	// for benchmarks): faster, not durable across a power cut.
	UnsafeNoFsync bool `json:"unsafeNoFsync,omitempty"`

	dir string
}

// Cluster phases.
const (
	PhaseStarting  = "Starting"
	PhaseRunning   = "Running"
	PhaseUpgrading = "Upgrading"
)

// Ports are the loopback ports a cluster listens on.
type Ports struct {
	EtcdClient int `json:"etcdClient"`
	EtcdPeer   int `json:"etcdPeer"`
	APIServer  int `json:"apiServer"`
	Ingress    int `json:"ingress"`
}

func (p Ports) all() []int { return []int{p.EtcdClient, p.EtcdPeer, p.APIServer, p.Ingress} }

// NodePool is a set of kwok nodes that share a version and a node image.
type NodePool struct {
	Name              string `json:"name"`
	Count             int    `json:"count"`
	KubernetesVersion string `json:"kubernetesVersion"`
	NodeImage         string `json:"nodeImage"`
}

// Dir is the cluster's state folder.
func (c *Cluster) Dir() string { return c.dir }

// KubeconfigPath is the admin kubeconfig, whose context is the cluster name.
func (c *Cluster) KubeconfigPath() string { return filepath.Join(c.dir, "kubeconfig") }

// APIServerURL is the cluster's API endpoint.
func (c *Cluster) APIServerURL() string {
	return fmt.Sprintf("https://127.0.0.1:%d", c.Ports.APIServer)
}

// IngressURL is the ingress stand-in's endpoint.
func (c *Cluster) IngressURL() string { return fmt.Sprintf("http://127.0.0.1:%d", c.Ports.Ingress) }

// Pool returns the named node pool.
func (c *Cluster) Pool(name string) (*NodePool, bool) {
	for i := range c.NodePools {
		if c.NodePools[i].Name == name {
			return &c.NodePools[i], true
		}
	}
	return nil, false
}

func (c *Cluster) path(parts ...string) string {
	return filepath.Join(append([]string{c.dir}, parts...)...)
}

func (c *Cluster) save() error {
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(c.path("cluster.json"), data, 0o600); err != nil {
		return fmt.Errorf("saving cluster %s: %w", c.Name, err)
	}
	return nil
}

func loadCluster(dir string) (*Cluster, error) {
	data, err := os.ReadFile(filepath.Join(dir, "cluster.json"))
	if err != nil {
		return nil, err
	}
	var c Cluster
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("reading %s: %w (remove the folder or run `upshift local down %s`)", dir, err, filepath.Base(dir))
	}
	c.dir = dir
	return &c, nil
}

// ErrNotFound says that no local cluster has the name.
var ErrNotFound = errors.New("no such local cluster")

// ErrNameTaken says that a local cluster of the name exists, unlike the
// one asked for.
var ErrNameTaken = errors.New("already taken")
