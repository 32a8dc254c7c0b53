package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"upshift.dev/upshift/internal/localfleet"
	"upshift.dev/upshift/internal/scan/apis"
	"upshift.dev/upshift/internal/scan/manifest"
	"upshift.dev/upshift/internal/scan/rules"
	"upshift.dev/upshift/internal/testfleet"
	"upshift.dev/upshift/internal/toolchain"
)

var target = rules.Version{Major: 1, Minor: 34}

// BenchmarkScanManifests reads and scans 10,000 manifest documents in 100
// files, one in ten using a removed API.
func BenchmarkScanManifests(b *testing.B) {
	dir := b.TempDir()
	kinds := []string{
		"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d%d\nspec:\n  replicas: 2\n  template:\n    spec:\n      containers:\n      - name: c\n        image: nginx\n",
		"apiVersion: v1\nkind: Service\nmetadata:\n  name: s%d\nspec:\n  ports:\n  - port: 80\n",
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c%d\ndata:\n  key: value\n",
	}
	for f := range 100 {
		var sb strings.Builder
		for d := range 100 {
			n := f*100 + d
			if n%10 == 0 {
				fmt.Fprintf(&sb, "apiVersion: extensions/v1beta1\nkind: Ingress\nmetadata:\n  name: i%d\n---\n", n)
				continue
			}
			fmt.Fprintf(&sb, kinds[n%3]+"---\n", n)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("m%03d.yaml", f)), []byte(sb.String()), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	scanner := apis.New(target)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		objs, errs := manifest.ReadPaths([]string{dir}, nil, nil)
		findings := scanner.Manifests(objs)
		if len(objs) != 10000 || len(errs) != 0 || len(findings) != 1000 {
			b.Fatalf("%d objects, %d errors, %d findings", len(objs), len(errs), len(findings))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e4, "ns/document")
}

// BenchmarkScanLiveCluster scans a local cluster holding 5,000 objects.
func BenchmarkScanLiveCluster(b *testing.B) {
	ctx := context.Background()
	fleet := testfleet.Fleet(b)
	c, err := fleet.Up(ctx, localfleet.Spec{Name: "scan-bench", KubernetesVersion: toolchain.Latest().Minor, NodePools: []localfleet.PoolSpec{{Name: "user", Count: 3}}})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = fleet.Down("scan-bench") }()
	client, err := c.Client()
	if err != nil {
		b.Fatal(err)
	}
	for ns := range 10 {
		if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("team-%d", ns)}}, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < 5000; i += 8 {
				cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: fmt.Sprintf("team-%d", i%10), Name: fmt.Sprintf("config-%d", i)}, Data: map[string]string{"k": "v"}}
				if i%50 == 0 {
					cm.Annotations = map[string]string{"kubectl.kubernetes.io/last-applied-configuration": `{"apiVersion":"v1","kind":"ConfigMap"}`}
				}
				if _, err := client.CoreV1().ConfigMaps(cm.Namespace).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	cfg, err := c.RESTConfig()
	if err != nil {
		b.Fatal(err)
	}
	scanner := apis.New(target)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, errs := scanner.Cluster(ctx, "scan-bench", cfg); len(errs) > 0 {
			b.Fatal(errs)
		}
	}
}
