package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/spf13/cobra"

	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/printer"
	"upshift.dev/upshift/internal/sampleapp"
	"upshift.dev/upshift/internal/toolchain"
)

func newDemoCommand(s Streams) *cobra.Command {
	o := &localOptions{streams: s}
	var name string
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the demo on the local fleet: a cluster, a sample app, a request through its ingress",
		Args:  exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDemo(cmd.Context(), o, name)
		},
	}
	cmd.Flags().StringVar(&o.home, "home", localfleet.DefaultHome(), "state folder of the local fleet ($UPSHIFT_HOME)")
	cmd.Flags().StringVar(&o.cache, "cache", toolchain.DefaultCacheDir(), "cache folder of built binaries ($UPSHIFT_CACHE)")
	cmd.Flags().StringVar(&name, "name", "demo", "name of the demo cluster")
	return cmd
}

func runDemo(ctx context.Context, o *localOptions, name string) error {
	o.printer = printer.New(o.streams.Err)
	fleet, err := o.fleet()
	if err != nil {
		return err
	}
	out := o.streams.Out
	start := time.Now()
	o.printer.Action("bringing up local cluster %s at Kubernetes %s", name, toolchain.Releases[0].Version)
	c, err := fleet.Up(ctx, localfleet.Spec{
		Name: name, KubernetesVersion: toolchain.Releases[0].Minor,
		NodePools: []localfleet.PoolSpec{{Name: "system", Count: 2}, {Name: "user", Count: 3}},
	})
	if err != nil {
		return err
	}
	o.printer.Success("cluster %s ready in %s", name, time.Since(start).Round(100*time.Millisecond))
	client, err := c.Client()
	if err != nil {
		return err
	}
	app := sampleapp.App{Namespace: "demo", Name: "web", Host: "web." + name + ".example", Replicas: 4, MinAvailable: 3}
	o.printer.Action("deploying the sample app: Deployment %s/%s (%d replicas, probes, preStop), Service, Ingress %s, PodDisruptionBudget minAvailable %d",
		app.Namespace, app.Name, app.Replicas, app.Host, app.MinAvailable)
	if err := app.Deploy(ctx, client); err != nil {
		return err
	}
	o.printer.Waiting("waiting for %d replicas to be available", app.Replicas)
	if err := app.WaitAvailable(ctx, client, 2*time.Minute); err != nil {
		return err
	}
	fmt.Fprintln(out, "\nNodes:")
	if err := printNodes(ctx, out, client); err != nil {
		return err
	}
	fmt.Fprintln(out, "\nPods:")
	if err := printPods(ctx, out, client, app.Namespace); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nRequest through the ingress stand-in: GET %s/ (Host: %s)\n", c.IngressURL(), app.Host)
	code, body, err := ingressRequest(ctx, c.IngressURL(), app.Host)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "HTTP %d %s\n", code, body)
	if code != http.StatusOK {
		return fmt.Errorf("the ingress stand-in answered %d for %s", code, app.Host)
	}
	fmt.Fprintf(out, "\nTry it:\n  curl -H 'Host: %s' %s/\n  upshift local list\n  export KUBECONFIG=%s\n\nTear it down:\n  upshift local down %s   (or: make demo-down)\n",
		app.Host, c.IngressURL(), c.KubeconfigPath(), name)
	o.printer.Success("demo done in %s", time.Since(start).Round(100*time.Millisecond))
	return nil
}

func printNodes(ctx context.Context, w io.Writer, client kubernetes.Interface) error {
	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	var rows [][]string
	for i := range nodes.Items {
		n := &nodes.Items[i]
		status := "NotReady"
		if localfleet.NodeReady(n) {
			status = "Ready"
		}
		if n.Spec.Unschedulable {
			status += ",SchedulingDisabled"
		}
		rows = append(rows, []string{n.Name, n.Labels[localfleet.LabelNodePool], status, n.Status.NodeInfo.KubeletVersion, n.Labels[localfleet.LabelNodeImage]})
	}
	return table(w, []string{"NAME", "POOL", "STATUS", "VERSION", "NODE IMAGE"}, rows)
}

func printPods(ctx context.Context, w io.Writer, client kubernetes.Interface, namespace string) error {
	pods, err := client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	var rows [][]string
	for _, p := range pods.Items {
		ready := "false"
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady {
				ready = strings.ToLower(string(c.Status))
			}
		}
		rows = append(rows, []string{p.Name, p.Spec.NodeName, string(p.Status.Phase), ready})
	}
	return table(w, []string{"NAME", "NODE", "PHASE", "READY"}, rows)
}

func ingressRequest(ctx context.Context, url, host string) (int, string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/", nil)
		if err != nil {
			return 0, "", err
		}
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			// Endpoints follow pods within a moment of them being Ready.
			if resp.StatusCode == http.StatusOK || ctx.Err() != nil {
				return resp.StatusCode, strings.TrimSpace(string(body)), nil
			}
		}
		select {
		case <-ctx.Done():
			if err != nil {
				return 0, "", fmt.Errorf("requesting %s through the ingress stand-in: %w", host, err)
			}
			return 0, "", fmt.Errorf("the ingress stand-in did not answer 200 for %s within 30s", host)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
