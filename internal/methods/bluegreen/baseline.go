package bluegreen

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/loadgen"
	"upshift.dev/upshift/internal/providers/cluster"
	"upshift.dev/upshift/internal/providers/traffic"
)

// Baseline is T0: blue as it is, and the traffic it serves.
func (m *Move) Baseline(ctx context.Context) (string, error) {
	blue, err := m.Provider.Get(ctx, m.Blue.Name)
	if err != nil {
		return "", fmt.Errorf("reading blue %s: %w", m.Blue.Name, err)
	}
	b := &v1alpha1.Baseline{KubernetesVersion: blue.KubernetesVersion, Workloads: map[string]int{}}
	for _, p := range blue.NodePools {
		b.NodePools = append(b.NodePools, v1alpha1.NodePoolStatus{Name: p.Name, Count: p.Count, KubernetesVersion: p.KubernetesVersion, NodeImage: p.NodeImage})
	}
	client, err := kubernetes.NewForConfig(m.Blue.RESTConfig)
	if err != nil {
		return "", err
	}
	if err := countWorkloads(ctx, client, b.Workloads); err != nil {
		return "", fmt.Errorf("reading blue's workloads: %w", err)
	}
	before, err := m.ensureRoutes(ctx, blue)
	if err != nil {
		return "", err
	}
	for name, w := range before {
		if name != m.Blue.Name && w > 0 {
			return "", fmt.Errorf("route %s sends %s: all of it must be on blue %s before a blue-green move; set it with upshift traffic set", m.hosts().Cluster, before, m.Blue.Name)
		}
	}
	probe := loadgen.Burst(ctx, m.target(m.hosts().Cluster, m.Spec.Traffic.HealthPath), 100, 2)
	b.Requests, b.Failed, b.RatePerSec = probe.Sent, probe.Failed, int(probe.Rate())
	b.P50, b.P95 = probe.P50.Round(10*time.Microsecond).String(), probe.P95.Round(10*time.Microsecond).String()
	if len(probe.Errors) > 0 {
		b.TrafficError = probe.Errors[0]
	}
	m.Record(func(s *v1alpha1.BlueGreenStatus) {
		s.Blue, s.Green, s.Baseline, s.TrafficBefore = m.Blue.Name, GreenName(m.Blue.Name), b, before
	})
	if limit := m.maxErrorRate(); probe.Sent > 0 && probe.ErrorRate()*100 > float64(limit) {
		// Users' traffic failing before anything changed would make the
		// post-switch window fail green for blue's fault, after green was
		// built and traffic moved: stop here, with nothing built.
		target := m.target(m.hosts().Cluster, m.Spec.Traffic.HealthPath)
		host := target.Host
		if host == "" {
			host = m.hosts().Cluster
		}
		return "", fmt.Errorf("blue %s fails its own traffic before anything changed: probe of %s %s (allowed %d%%, as after the switch): %s; "+
			"check traffic.url (where upshift sends users' requests; now %q) and that blue's Ingress serves the Host %s; nothing was built, resume once it answers",
			m.Blue.Name, target.URL, probe, limit, strings.Join(probe.Errors, "; "), m.Spec.Traffic.URL, host)
	}
	workloads := 0
	for _, n := range b.Workloads {
		workloads += n
	}
	return fmt.Sprintf("blue %s at %s, %d pool(s), %d workload(s); traffic %s; probe %s", m.Blue.Name, b.KubernetesVersion, len(b.NodePools), workloads, before, probe), nil
}

func countWorkloads(ctx context.Context, client kubernetes.Interface, into map[string]int) error {
	deps, err := client.AppsV1().Deployments("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, d := range deps.Items {
		into[d.Namespace]++
	}
	sts, err := client.AppsV1().StatefulSets("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, s := range sts.Items {
		into[s.Namespace]++
	}
	dss, err := client.AppsV1().DaemonSets("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, d := range dss.Items {
		into[d.Namespace]++
	}
	return nil
}

// ensureRoutes reads the switched name's weights; on a provider whose
// routes upshift edits, it first sets up the names that do not exist yet:
// the cluster name (with the public name as an alias) and blue's own name,
// both on blue.
func (m *Move) ensureRoutes(ctx context.Context, blue *cluster.Cluster) (traffic.Weights, error) {
	h := m.hosts()
	router, ok := m.Traffic.(traffic.Router)
	if !ok {
		w, err := m.Traffic.Weights(ctx, h.Cluster)
		if err != nil {
			return nil, fmt.Errorf("reading the traffic of %s: %w", h.Cluster, err)
		}
		return w, nil
	}
	ingress, err := cluster.IngressURL(ctx, m.Provider, blue)
	if err != nil {
		return nil, fmt.Errorf("blue: %w", err)
	}
	be := traffic.Backend{Name: blue.Name, URL: ingress, Weight: 100, HealthPath: m.Spec.Traffic.HealthPath}
	for _, r := range []traffic.Route{
		{Host: h.Cluster, Aliases: []string{h.Public}, UpstreamHost: h.Public, Backends: []traffic.Backend{be}},
		{Host: h.Blue, UpstreamHost: h.Public, Backends: []traffic.Backend{be}},
	} {
		_, err := router.Route(ctx, r.Host)
		if errors.Is(err, traffic.ErrNoRoute) {
			m.progress("creating route %s → %s", r.Host, blue.Name)
			err = router.ApplyRoute(ctx, r)
		}
		if err != nil {
			return nil, fmt.Errorf("route %s: %w", r.Host, err)
		}
	}
	w, err := m.Traffic.Weights(ctx, h.Cluster)
	if err != nil {
		return nil, fmt.Errorf("reading the traffic of %s: %w", h.Cluster, err)
	}
	return w, nil
}
