package bench

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkScanVsPluto scans the same corpus — 10,000 documents in 1,000
// files, one in ten on an API removed by 1.34 — with `upshift scan apis`,
// with the scan-only `upshift-scan apis` and with Pluto (`pluto
// detect-files`), each a whole process, five runs alternating, and
// reports each one's median wall time and peak resident memory, and the
// ratios against the goals (≥ 3× Pluto's throughput, ≤ its peak memory).
// Pluto is not on the module proxy: build it from its public source in a
// temporary folder and name it in $PLUTO (or put `pluto` on PATH);
// without it the benchmark is skipped.
func BenchmarkScanVsPluto(b *testing.B) {
	pluto := os.Getenv("PLUTO")
	if pluto == "" {
		var err error
		if pluto, err = exec.LookPath("pluto"); err != nil {
			b.Skip("set PLUTO to a pluto binary built from github.com/FairwindsOps/pluto (cmd/pluto)")
		}
	}
	dir := b.TempDir()
	writeCorpus(b, dir)
	// Both of upshift's binaries, as users run them; upshift-scan is the
	// scan alone, for CI pipelines: the same report from a binary that
	// links none of upshift's providers.
	bin := b.TempDir()
	upshift, scanOnly := filepath.Join(bin, "upshift"), filepath.Join(bin, "upshift-scan")
	for path, pkg := range map[string]string{upshift: "upshift.dev/upshift/cmd/upshift", scanOnly: "upshift.dev/upshift/cmd/upshift-scan"} {
		if out, err := exec.Command("go", "build", "-o", path, pkg).CombinedOutput(); err != nil {
			b.Fatalf("building %s: %v\n%s", pkg, err, out)
		}
	}
	// Each tool runs from a copy written as a download or a package
	// install writes it. Run from the file the Go linker has just
	// written, the same bytes peak 8 MiB higher (49 against 40 MiB for
	// upshift-scan: the page cache holds that file differently, and a
	// start maps more of it), which would measure the build, not the tool.
	installed := b.TempDir()
	for _, bin := range []*string{&upshift, &scanOnly, &pluto} {
		*bin = install(b, *bin, installed)
	}
	type sample struct {
		wall time.Duration
		rss  int64 // KiB
	}
	// Peak memory comes from /usr/bin/time, which forks each tool from its
	// own small process: a child of this benchmark starts inside its
	// address space (vfork) and its ru_maxrss would never read below this
	// process's own resident size, whatever the tool uses.
	timeBin, err := exec.LookPath("/usr/bin/time")
	if err != nil {
		b.Skip("needs /usr/bin/time (Debian time; make bench-deps installs it) to read each tool's own peak memory")
	}
	rssFile := filepath.Join(b.TempDir(), "rss")
	run := func(cmd *exec.Cmd, wantFound string) sample {
		cmd = exec.Command(timeBin, append([]string{"-f", "%M", "-o", rssFile}, cmd.Args...)...)
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		start := time.Now()
		_ = cmd.Run() // both exit non-zero when they find removed APIs
		wall := time.Since(start)
		if !strings.Contains(out.String(), wantFound) {
			b.Fatalf("%s: the output does not name %q:\n%.2000s", cmd.Args, wantFound, out.String())
		}
		data, err := os.ReadFile(rssFile)
		if err != nil {
			b.Fatal(err)
		}
		fields := strings.Fields(string(data)) // "Command exited with non-zero status 5" comes first
		rss, err := strconv.ParseInt(fields[len(fields)-1], 10, 64)
		if err != nil {
			b.Fatalf("reading %s's peak memory from %q: %v", cmd.Args[5], data, err)
		}
		return sample{wall, rss}
	}
	var ups, only, plu []sample
	for range b.N {
		for range 5 {
			ups = append(ups, run(exec.Command(upshift, "scan", "apis", "--target-version", "1.34", "-f", dir, "-o", "json"), "ingress-9990"))
			only = append(only, run(exec.Command(scanOnly, "apis", "--target-version", "1.34", "-f", dir, "-o", "json"), "ingress-9990"))
			plu = append(plu, run(exec.Command(pluto, "detect-files", "-d", dir, "--target-versions", "k8s=v1.34.0", "-o", "json"), "ingress-9990"))
		}
	}
	median := func(s []sample) sample {
		w := make([]time.Duration, len(s))
		r := make([]int64, len(s))
		for i := range s {
			w[i], r[i] = s[i].wall, s[i].rss
		}
		slices.Sort(w)
		slices.Sort(r)
		return sample{w[len(w)/2], r[len(r)/2]}
	}
	u, p := median(ups), median(plu)
	speed, mem := float64(p.wall)/float64(u.wall), float64(u.rss)/float64(p.rss)
	b.Logf("10,000 documents, median of %d: upshift %s, %d MiB peak; Pluto %s, %d MiB peak", len(ups), u.wall.Round(time.Millisecond), u.rss/1024, p.wall.Round(time.Millisecond), p.rss/1024)
	b.Logf("upshift's throughput %.2f× Pluto's (goal ≥ 3: %s); peak memory %.2f× Pluto's (goal ≤ 1: %s)", speed, met(speed >= 3), mem, met(mem <= 1))
	b.ReportMetric(speed, "throughput-vs-pluto")
	b.ReportMetric(mem, "memory-vs-pluto")
	b.ReportMetric(float64(u.wall.Milliseconds()), "upshift-ms")
	b.ReportMetric(float64(p.wall.Milliseconds()), "pluto-ms")
	o := median(only)
	speed, mem = float64(p.wall)/float64(o.wall), float64(o.rss)/float64(p.rss)
	b.Logf("upshift-scan: %s, %d MiB peak: throughput %.2f× Pluto's (goal ≥ 3: %s); peak memory %.2f× Pluto's (goal ≤ 1: %s)", o.wall.Round(time.Millisecond), o.rss/1024, speed, met(speed >= 3), mem, met(mem <= 1))
	b.ReportMetric(speed, "scan-only-throughput-vs-pluto")
	b.ReportMetric(mem, "scan-only-memory-vs-pluto")
}

// writeCorpus writes 1,000 files of 10 documents: Deployments,
// Services, ConfigMaps, and every tenth an Ingress of extensions/v1beta1.
func writeCorpus(b *testing.B, dir string) {
	b.Helper()
	kinds := []string{
		"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web-%[1]d\n  namespace: shop\n  labels: {app: web, tier: front}\nspec:\n  replicas: 3\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: web\n        image: registry.example/web:1.%[1]d\n        ports:\n        - containerPort: 8080\n        resources:\n          requests: {cpu: 100m, memory: 128Mi}\n        readinessProbe:\n          httpGet: {path: /healthz, port: 8080}\n",
		"apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-%[1]d\n  namespace: shop\nspec:\n  selector: {app: web}\n  ports:\n  - port: 80\n    targetPort: 8080\n",
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%[1]d\n  namespace: shop\ndata:\n  config.yaml: |\n    level: info\n    port: 8080\n",
	}
	for f := range 1000 {
		var sb strings.Builder
		for d := range 10 {
			n := f*10 + d
			if d > 0 {
				sb.WriteString("---\n")
			}
			if n%10 == 0 {
				fmt.Fprintf(&sb, "apiVersion: extensions/v1beta1\nkind: Ingress\nmetadata:\n  name: ingress-%d\n  namespace: shop\nspec:\n  backend:\n    serviceName: web\n    servicePort: 80\n", n)
				continue
			}
			fmt.Fprintf(&sb, kinds[n%3], n)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("app-%04d.yaml", f)), []byte(sb.String()), 0o644); err != nil {
			b.Fatal(err)
		}
	}
}

// install copies a binary into dir by reading and writing it, as a
// download or a package manager does, and returns the copy's path.
func install(b *testing.B, src, dir string) string {
	b.Helper()
	in, err := os.Open(src)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	dst := filepath.Join(dir, filepath.Base(src))
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		b.Fatal(err)
	}
	if err := out.Close(); err != nil {
		b.Fatal(err)
	}
	return dst
}
