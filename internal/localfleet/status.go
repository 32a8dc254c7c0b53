package localfleet

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"upshift.dev/upshift/internal/nodes"
	"upshift.dev/upshift/internal/procs"
)

// Status is what `local list` shows of a cluster: its record and what a
// look at its processes and API says now.
type Status struct {
	Name              string           `json:"name"`
	Phase             string           `json:"phase"`
	Health            string           `json:"health"` // Healthy, Degraded, Stopped
	KubernetesVersion string           `json:"kubernetesVersion"`
	ServerVersion     string           `json:"serverVersion,omitempty"` // what /version answers
	APIServer         string           `json:"apiServer"`
	Ingress           string           `json:"ingress"`
	Ports             Ports            `json:"ports"`
	Kubeconfig        string           `json:"kubeconfig"`
	Components        map[string]bool  `json:"components"` // alive or not
	NodePools         []NodePoolStatus `json:"nodePools"`
	Problems          []string         `json:"problems,omitempty"`
}

// NodePoolStatus counts a pool's nodes as the API server sees them.
type NodePoolStatus struct {
	Name     string   `json:"name"`
	Nodes    int      `json:"nodes"`
	Ready    int      `json:"ready"`
	Versions []string `json:"versions"`
	Images   []string `json:"images"`
}

// Status looks at a cluster's processes and API.
func (f *Fleet) Status(ctx context.Context, c *Cluster) Status {
	s := Status{
		Name: c.Name, Phase: c.Phase, KubernetesVersion: c.KubernetesVersion,
		APIServer: c.APIServerURL(), Ingress: c.IngressURL(), Ports: c.Ports,
		Kubeconfig: c.KubeconfigPath(), Components: map[string]bool{},
	}
	recs, _ := procs.LoadDir(c.path("pids"))
	alive := 0
	for _, name := range componentOrder {
		rec, ok := recs[name]
		s.Components[name] = ok && rec.Alive()
		if s.Components[name] {
			alive++
		} else {
			s.Problems = append(s.Problems, name+" is not running")
		}
	}
	switch {
	case alive == 0:
		s.Health = "Stopped"
	case alive < len(componentOrder):
		s.Health = "Degraded"
	default:
		s.Health = "Healthy"
	}
	if !s.Components[compAPIServer] {
		return s
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	client, err := c.Client()
	if err != nil {
		s.Problems = append(s.Problems, err.Error())
		return s
	}
	if v, err := client.Discovery().ServerVersion(); err == nil {
		s.ServerVersion = v.GitVersion
	} else {
		s.Health = "Degraded"
		s.Problems = append(s.Problems, "API server: "+err.Error())
		return s
	}
	nodeList, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		s.Problems = append(s.Problems, "listing nodes: "+err.Error())
		return s
	}
	pools := map[string]*NodePoolStatus{}
	for _, p := range c.NodePools {
		pools[p.Name] = &NodePoolStatus{Name: p.Name}
	}
	for i := range nodeList.Items {
		n := &nodeList.Items[i]
		name := n.Labels[LabelNodePool]
		p := pools[name]
		if p == nil {
			p = &NodePoolStatus{Name: name}
			pools[name] = p
		}
		p.Nodes++
		if nodes.Ready(n) {
			p.Ready++
		}
		p.Versions = addUnique(p.Versions, n.Status.NodeInfo.KubeletVersion)
		p.Images = addUnique(p.Images, n.Labels[LabelNodeImage])
	}
	for _, p := range pools {
		if p.Ready < p.Nodes {
			s.Health = "Degraded"
		}
		s.NodePools = append(s.NodePools, *p)
	}
	sort.Slice(s.NodePools, func(i, j int) bool { return s.NodePools[i].Name < s.NodePools[j].Name })
	return s
}

func addUnique(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	list = append(list, s)
	sort.Strings(list)
	return list
}

// PoolSummary renders pools as "system=3 user=5".
func (s Status) PoolSummary() string {
	var parts []string
	for _, p := range s.NodePools {
		part := p.Name + "=" + strconv.Itoa(p.Ready) + "/" + strconv.Itoa(p.Nodes)
		parts = append(parts, part)
	}
	return strings.Join(parts, " ")
}

// PoolVersions renders each pool's kubelet versions, "system=v1.36.3
// user=v1.35.4+v1.36.3" while a pool is mid-upgrade, so skew shows.
func (s Status) PoolVersions() string {
	return s.poolValues(func(p NodePoolStatus) []string { return p.Versions })
}

// PoolImages renders each pool's node images the same way.
func (s Status) PoolImages() string {
	return s.poolValues(func(p NodePoolStatus) []string { return p.Images })
}

func (s Status) poolValues(of func(NodePoolStatus) []string) string {
	var parts []string
	for _, p := range s.NodePools {
		v := strings.Join(of(p), "+")
		if v == "" {
			v = "-"
		}
		parts = append(parts, p.Name+"="+v)
	}
	return strings.Join(parts, " ")
}

// Memory returns the memory of each running component of the cluster.
func (c *Cluster) Memory() (map[string]procs.Memory, error) {
	recs, err := procs.LoadDir(c.path("pids"))
	if err != nil {
		return nil, err
	}
	out := map[string]procs.Memory{}
	for name, rec := range recs {
		if !rec.Alive() {
			continue
		}
		m, err := rec.Memory()
		if err != nil {
			return nil, err
		}
		out[name] = m
	}
	return out, nil
}
