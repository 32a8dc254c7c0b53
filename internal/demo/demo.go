package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/azureemu"
	"upshift.dev/upshift/internal/engine"
	"upshift.dev/upshift/internal/ingress"
	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/printer"
	"upshift.dev/upshift/internal/sampleapp"
	"upshift.dev/upshift/internal/store"
	"upshift.dev/upshift/internal/toolchain"
)

// demoClusters are the demo's fleet: name, update group, provider. The
// production cluster is an AKS cluster, served by the Azure emulator over
// its local cluster.
var demoClusters = []struct{ name, group, provider string }{
	{"demo-dev", "dev-clusters", v1alpha1.ProviderLocal}, {"demo-test", "test-clusters", v1alpha1.ProviderLocal}, {"demo-prod", "prod-clusters", v1alpha1.ProviderAKS},
}

// The demo's Azure Fleet stages file, with short soaks.
const demoStages = `{
  "stages": [
    {"name": "development", "groups": [{"name": "dev-clusters"}], "afterStageWaitInSeconds": 5},
    {"name": "test", "groups": [{"name": "test-clusters"}], "afterStageWaitInSeconds": 5},
    {"name": "production", "groups": [{"name": "prod-clusters"}],
     "beforeGates": [{"displayName": "Production sign-off", "type": "Approval"}]}
  ]
}
`

// TearDown removes every cluster the demo makes, from the one list of
// them (Names), whichever parts of the demo ran.
func TearDown(home string, p *printer.Printer) error {
	lf := &localfleet.Fleet{Home: home}
	var errs []error
	for _, name := range Names() {
		err := lf.Down(name)
		switch {
		case errors.Is(err, localfleet.ErrNotFound):
		case err != nil:
			errs = append(errs, fmt.Errorf("removing %s: %w", name, err))
		default:
			p.Success("local cluster %s removed", name)
		}
	}
	return errors.Join(errs...)
}

// Run plays the whole demo.
func Run(ctx context.Context, d *Demo) error {
	out := d.Out
	start := time.Now()
	lf := &localfleet.Fleet{Home: d.Home, Tools: &toolchain.Cache{Dir: d.Cache, Log: d.Printer.Actions()}, DaemonCommand: d.Self}
	if err := lf.Tools.EnsureAll(ctx); err != nil {
		return err
	}

	// The blue-green part's cluster comes up alongside the fleet.
	type shopResult struct {
		c   *localfleet.Cluster
		err error
	}
	shopReady, webReady := make(chan shopResult, 1), make(chan shopResult, 1)
	go func() {
		c, err := upDemoShop(ctx, lf)
		shopReady <- shopResult{c, err}
		c, err = upDemoWeb(ctx, lf)
		webReady <- shopResult{c, err}
	}()

	// 1. A fresh fleet on the lower version, each cluster with its app.
	d.Printer.Action("bringing up %d local clusters at Kubernetes %s", len(demoClusters), toolchain.Oldest().Version)
	apps := map[string]sampleapp.App{}
	clients := map[string]kubernetes.Interface{}
	ingressURLs := map[string]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, len(demoClusters))
	for _, dc := range demoClusters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = lf.Down(dc.name) // the demo starts clean
			c, err := lf.Up(ctx, localfleet.Spec{Name: dc.name, KubernetesVersion: toolchain.Oldest().Minor,
				NodePools: []localfleet.PoolSpec{{Name: "system", Count: 1}, {Name: "user", Count: 3}}})
			if err != nil {
				errs <- err
				return
			}
			client, err := c.Client()
			if err != nil {
				errs <- err
				return
			}
			app := sampleapp.App{Namespace: "shop", Name: "web", Host: "web." + dc.name + ".example", Replicas: 4, MinAvailable: 3}
			if err := app.Deploy(ctx, client); err != nil {
				errs <- err
				return
			}
			if err := app.WaitAvailable(ctx, client, 2*time.Minute); err != nil {
				errs <- err
				return
			}
			if _, err := ingress.WaitServed(ctx, c.IngressURL(), app.Host, int(app.Replicas), time.Minute); err != nil {
				errs <- err
				return
			}
			mu.Lock()
			apps[dc.name], clients[dc.name], ingressURLs[dc.name] = app, client, c.IngressURL()
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		<-shopReady
		<-webReady
		return err
	}
	d.Printer.Success("fleet ready in %s: each cluster runs shop/web (4 replicas, PodDisruptionBudget minAvailable 3) behind its ingress", time.Since(start).Round(100*time.Millisecond))

	// The Azure emulator (`upshift local azure`) serves the local fleet as
	// AKS clusters of resource group upshift-local, for the production
	// cluster.
	armURL, stopARM, err := serveAzureEmulator(lf)
	if err != nil {
		<-shopReady
		<-webReady
		return err
	}
	defer stopARM()
	d.Printer.Success("Azure emulator on %s: demo-prod is upgraded as an AKS cluster, through the Azure SDK for Go", armURL)

	// 2. The files a team would commit.
	dir := filepath.Join(d.Home, "demo")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	var fleetYAML strings.Builder
	for i, dc := range demoClusters {
		if i > 0 {
			fleetYAML.WriteString("---\n")
		}
		fmt.Fprintf(&fleetYAML, "apiVersion: upshift.dev/v1alpha1\nkind: Cluster\nmetadata:\n  name: %s\nspec:\n  provider: %s\n", dc.name, dc.provider)
		if dc.provider == v1alpha1.ProviderAKS {
			// AKS publishes no CVE data: the catalogue of the images the
			// emulator offers (the local fleet's) says which each fixes.
			fmt.Fprintf(&fleetYAML, "  aks: {subscriptionID: %s, resourceGroup: %s, name: %s, armEndpoint: %q, nodeImageFeed: %q}\n", azureemu.DefaultSubscription, azureemu.AdoptGroup, dc.name, armURL, lf.NodeImagesPath())
		} else {
			fmt.Fprintf(&fleetYAML, "  local: {name: %s}\n", dc.name)
		}
		fmt.Fprintf(&fleetYAML, "  group: %s\n", dc.group)
	}
	runName := "demo-" + time.Now().UTC().Format("20060102-150405")
	runYAML := fmt.Sprintf(`apiVersion: upshift.dev/v1alpha1
kind: UpdateRun
metadata:
  name: %s
spec:
  upgrade: {type: Full, kubernetesVersion: "%s"}
  nodeUpgrade: {maxSurge: "33%%", drainTimeout: 5m}
  gates:
    postUpgrade:
    - {name: cluster-healthy, type: KubernetesHealth, interval: 1s}
`, runName, toolchain.Latest().Minor)
	files := map[string]string{"fleet.yaml": fleetYAML.String(), "upgrade-stages.json": demoStages, "run.yaml": runYAML}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "\nThe run (the same as `upshift run -f %s --fleet %s --stages %s`):\n\n%s\n%s\n",
		filepath.Join(dir, "run.yaml"), filepath.Join(dir, "fleet.yaml"), filepath.Join(dir, "upgrade-stages.json"), runYAML, demoStages)

	// 3. Live traffic and ready pods, sampled through the whole run.
	sampleCtx, cancelSampling := context.WithCancel(ctx)
	samplers := map[string]*availability{}
	var sampling sync.WaitGroup
	for _, dc := range demoClusters {
		a := &availability{minReady: int(apps[dc.name].Replicas)}
		samplers[dc.name] = a
		sampling.Add(1)
		go func() {
			defer sampling.Done()
			a.sample(sampleCtx, clients[dc.name], apps[dc.name], ingressURLs[dc.name])
		}()
	}
	stopSampling := func() { cancelSampling(); sampling.Wait() }

	// 4. The run, with the approval before production granted by the demo.
	run, strategy, clusters, err := d.CLI.Load(filepath.Join(dir, "run.yaml"), filepath.Join(dir, "fleet.yaml"), filepath.Join(dir, "upgrade-stages.json"))
	if err != nil {
		stopSampling()
		return err
	}
	e := d.CLI.Engine(clusters)
	if err := d.CLI.Initialize(ctx, e, run, strategy, filepath.Join(dir, "fleet.yaml")); err != nil {
		stopSampling()
		return err
	}
	approve := func(ev engine.Event) {
		d.CLI.Progress(ev)
		if ev.Type == "Waiting" && strings.Contains(ev.Message, "approval") {
			go func() {
				time.Sleep(2 * time.Second)
				d.Printer.Action("the demo approves stage %s (as a release manager would: upshift approve %s --stage %s)", ev.Stage, run.Name, ev.Stage)
				_ = d.CLI.Approve(run.Name, store.Approval{Key: store.StageKey(ev.Stage), By: "demo-release-manager", Time: time.Now().UTC()})
			}()
		}
	}
	e.Progress = approve
	runStart := time.Now()
	final, err := e.Drive(ctx, run.Name)
	stopSampling()
	if final != nil {
		fmt.Fprintln(out)
		d.CLI.WriteRunReport(out, final)
	}
	if err != nil {
		return err
	}

	// 5. The report.
	fmt.Fprintf(out, "\nAvailability during the run (%s):\n", time.Since(runStart).Round(time.Second))
	var rows [][]string
	ok := true
	for _, dc := range demoClusters {
		a := samplers[dc.name]
		app := apps[dc.name]
		held := a.minReady >= int(app.MinAvailable)
		ok = ok && held && a.failed == 0
		rows = append(rows, []string{dc.name, fmt.Sprint(app.MinAvailable), fmt.Sprint(a.minReady), fmt.Sprint(a.samples), fmt.Sprint(a.requests), fmt.Sprint(a.failed), yesNo(held)})
	}
	if err := printer.Table(out, []string{"CLUSTER", "PDB MIN AVAILABLE", "FEWEST READY PODS", "SAMPLES", "REQUESTS", "FAILED", "NEVER BELOW PDB"}, rows); err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("availability dropped during the run: see the table above")
	}
	d.Printer.Success("in-place run done: every cluster on %s, every node replaced, availability never below a budget", toolchain.Latest().Version)

	// 6. An emergency node-image patch of the same fleet.
	if err := runPatch(ctx, d, dir); err != nil {
		<-shopReady
		<-webReady
		return err
	}

	// 7. Blue-green: demo-shop moves to a new cluster under live users.
	shop := <-shopReady
	if shop.err != nil {
		return fmt.Errorf("bringing up %s: %w", demoShop, shop.err)
	}
	if err := runBlueGreen(ctx, d, shop.c, dir); err != nil {
		<-webReady
		return err
	}

	// 8. Canary: demo-web's green is broken, then fixed.
	web := <-webReady
	if web.err != nil {
		return fmt.Errorf("bringing up %s: %w", demoWeb, web.err)
	}
	if err := runCanary(ctx, d, web.c, dir); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nSee it again: upshift status %s --home %s; upshift history; upshift local list\nTear it down: make demo-down (upshift demo --down)\n", run.Name, d.Home)
	d.Printer.Success("demo done in %s: the fleet upgraded in place and patched, %s moved blue-green to %s, %s's broken canary rolled back and its fixed one promoted to %s", time.Since(start).Round(time.Second), demoShop, demoShopGreen, demoWeb, demoWebGreen)
	return nil
}

// serveAzureEmulator serves the Azure emulator over lf on a free loopback
// port for the demo's lifetime.
func serveAzureEmulator(lf *localfleet.Fleet) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	emu := azureemu.New(lf, "")
	srv := &http.Server{Handler: emu, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() {
		_ = srv.Close()
		emu.Close()
	}, nil
}

// Names are the local clusters the demo makes.
func Names() []string {
	var out []string
	for _, dc := range demoClusters {
		out = append(out, dc.name)
	}
	return append(out, demoShop, demoShopGreen, demoWeb, demoWebGreen)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "NO"
}

// availability samples an app's ready pods and requests through its ingress.
type availability struct {
	minReady, samples, requests, failed int
}

func (a *availability) sample(ctx context.Context, client kubernetes.Interface, app sampleapp.App, ingressURL string) {
	httpc := &http.Client{Timeout: 2 * time.Second}
	for ctx.Err() == nil {
		if n, err := app.ReadyPods(ctx, client); err == nil {
			a.minReady = min(a.minReady, n)
			a.samples++
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ingressURL+"/", nil)
		req.Host = app.Host
		resp, err := httpc.Do(req)
		if ctx.Err() != nil {
			return
		}
		a.requests++
		if err != nil {
			a.failed++
		} else {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				a.failed++
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
}
