package exec_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/intstr"

	"upshift.dev/upshift/internal/providers/cluster"
	"upshift.dev/upshift/internal/providers/cluster/exec"
)

// cloud is the state a fake cloud CLI keeps between its calls: what a
// real account would hold.
type cloud struct {
	Version  string           `json:"version"` // the control plane's (EKS: a minor; GKE: 1.36.3-gke.1200)
	Pools    map[string]*pool `json:"pools"`
	Offered  []string         `json:"offered"`
	Pending  map[string]*pool `json:"pending,omitempty"` // EKS updates under way, by id; "" pool: the control plane
	Polls    int              `json:"polls,omitempty"`
	Sequence int              `json:"sequence,omitempty"`
}

type pool struct {
	Name, Version, Release string
	Size, Surge            int
}

// fakeCloudCLI answers as `aws eks` or `gcloud container` would, for the
// commands the example providers run, in the output formats they ask for
// (the CLIs' documented `--output text` and `--format value(...)`), over
// an account's state (fakeCall). A command it does not know fails the
// test's run.
func fakeCloudCLI(cli string, args []string) int {
	var st map[string]*cloud
	flag := func(name string) string {
		for i, a := range args {
			if a == name && i+1 < len(args) {
				return args[i+1]
			}
			if v, ok := strings.CutPrefix(a, name+"="); ok {
				return v
			}
		}
		return ""
	}
	return fakeCall(cli, args, &st, func() int {
		if cli == "aws" {
			return fakeAWS(st, args, flag)
		}
		return fakeGcloud(st, args, flag)
	})
}

func fakeAWS(st map[string]*cloud, args []string, flag func(string) string) int {
	if len(args) < 2 || args[0] != "eks" {
		fmt.Fprintf(os.Stderr, "fake aws: unknown command %v\n", args)
		return 252
	}
	name := flag("--name")
	if name == "" {
		name = flag("--cluster-name")
	}
	c := st[name]
	if c == nil && args[1] != "describe-cluster-versions" {
		fmt.Fprintf(os.Stderr, "\nAn error occurred (ResourceNotFoundException) when calling the %s operation: No cluster found for name: %s.\n", args[1], name)
		return 254
	}
	query := flag("--query")
	switch args[1] {
	case "describe-cluster":
		fmt.Println(c.Version)
	case "list-nodegroups":
		var names []string
		for n := range c.Pools {
			names = append(names, n)
		}
		slices.Sort(names)
		fmt.Println(strings.Join(names, "\t"))
	case "describe-nodegroup":
		p := c.Pools[flag("--nodegroup-name")]
		if p == nil || query != "[nodegroup.version,nodegroup.releaseVersion,nodegroup.scalingConfig.desiredSize]" {
			fmt.Fprintf(os.Stderr, "\nAn error occurred (ResourceNotFoundException) when calling the DescribeNodegroup operation: No node group found for name: %s.\n", flag("--nodegroup-name"))
			return 254
		}
		fmt.Printf("%s\t%s\t%d\n", p.Version, p.Release, p.Size)
	case "describe-cluster-versions":
		for _, c := range st {
			fmt.Println(strings.Join(c.Offered, "\t"))
			break
		}
	case "update-cluster-version", "update-nodegroup-version", "update-nodegroup-config":
		c.Sequence++
		id := fmt.Sprintf("upd-%d", c.Sequence)
		if c.Pending == nil {
			c.Pending = map[string]*pool{}
		}
		switch args[1] {
		case "update-cluster-version":
			c.Pending[id] = &pool{Version: flag("--kubernetes-version")}
		case "update-nodegroup-config":
			p := *c.Pools[flag("--nodegroup-name")]
			fmt.Sscanf(flag("--update-config"), "maxUnavailable=%d", &p.Surge)
			c.Pending[id] = &p
		default:
			p := *c.Pools[flag("--nodegroup-name")]
			if v := flag("--kubernetes-version"); v != "" {
				p.Version = v
			}
			if r := flag("--release-version"); r != "" {
				p.Release = r
			}
			c.Pending[id] = &p
		}
		fmt.Println(id)
	case "describe-update":
		id := flag("--update-id")
		up := c.Pending[id]
		if up == nil {
			fmt.Println("Successful")
			return 0
		}
		if c.Polls++; c.Polls%2 == 1 {
			fmt.Println("InProgress")
			return 0
		}
		if up.Name == "" {
			c.Version = up.Version
		} else {
			c.Pools[up.Name] = up
		}
		delete(c.Pending, id)
		fmt.Println("Successful")
	default:
		fmt.Fprintf(os.Stderr, "fake aws: unknown command %v\n", args)
		return 252
	}
	return 0
}

func fakeGcloud(st map[string]*cloud, args []string, flag func(string) string) int {
	if len(args) < 2 || args[0] != "container" {
		fmt.Fprintf(os.Stderr, "fake gcloud: unknown command %v\n", args)
		return 2
	}
	notFound := func(name string) int {
		fmt.Fprintf(os.Stderr, "ERROR: (gcloud.container.%s) ResponseError: code=404, message=Not found: projects/p/locations/%s/clusters/%s.\n", strings.Join(args[:3], "."), flag("--location"), name)
		return 1
	}
	format := flag("--format")
	switch {
	case args[1] == "get-server-config":
		for _, c := range st {
			fmt.Println(strings.Join(c.Offered, ";"))
			break
		}
	case args[1] == "clusters" && args[2] == "describe":
		c := st[args[3]]
		if c == nil {
			return notFound(args[3])
		}
		fmt.Println(c.Version)
	case args[1] == "node-pools" && args[2] == "list":
		c := st[flag("--cluster")]
		if c == nil {
			return notFound(flag("--cluster"))
		}
		var names []string
		for n := range c.Pools {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			p := c.Pools[n]
			fmt.Printf("%s\t%s\t%d\n", p.Name, p.Version, p.Size)
		}
	case args[1] == "node-pools" && args[2] == "describe" && format == "value(version)":
		c := st[flag("--cluster")]
		if c == nil || c.Pools[args[3]] == nil {
			return notFound(flag("--cluster"))
		}
		fmt.Println(c.Pools[args[3]].Version)
	case args[1] == "node-pools" && args[2] == "update":
		c := st[flag("--cluster")]
		fmt.Sscanf(flag("--max-surge-upgrade"), "%d", &c.Pools[args[3]].Surge)
	case args[1] == "clusters" && args[2] == "upgrade":
		c := st[args[3]]
		if c == nil {
			return notFound(args[3])
		}
		v := flag("--cluster-version")
		if !slices.Contains(c.Offered, v) {
			fmt.Fprintf(os.Stderr, "ERROR: (gcloud.container.clusters.upgrade) ResponseError: code=400, message=Master version %q is unsupported.\n", v)
			return 1
		}
		if p := flag("--node-pool"); p != "" {
			c.Pools[p].Version = v
		} else {
			c.Version = v
		}
		fmt.Fprintf(os.Stderr, "Upgrading %s...done.\n", args[3])
	default:
		fmt.Fprintf(os.Stderr, "fake gcloud: unknown command %v\n", args)
		return 2
	}
	return 0
}

// withCloud puts a fake cli (aws or gcloud: this test binary) first on
// PATH over state, and returns where its calls are logged.
func withCloud(t *testing.T, cli string, state map[string]*cloud) (calls func() []string) {
	t.Helper()
	_, calls = withFakes(t, state, cli)
	return calls
}

func example(t *testing.T, name string) string {
	path, err := filepath.Abs("../../../../examples/exec-provider/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// called says whether one of the calls starts with want.
func called(calls []string, want string) bool {
	return slices.ContainsFunc(calls, func(c string) bool { return strings.HasPrefix(c, want) })
}

// TestEKSExample drives examples/exec-provider/eks.sh through the exec
// provider over a fake `aws eks`: get and versions read the account; a
// control plane and a node group are upgraded through EKS's own updates,
// waited for; done again (as after a crash) each does nothing; a missing
// cluster is exit 3, and create is refused.
func TestEKSExample(t *testing.T) {
	calls := withCloud(t, "aws", map[string]*cloud{"prod": {Version: "1.36", Offered: []string{"1.37", "1.36", "1.35"},
		Pools: map[string]*pool{"ng-user": {Name: "ng-user", Version: "1.36", Release: "1.36.3-20261101", Size: 3}}}})
	t.Setenv("EKS_POLL_SECONDS", "0")
	p := &exec.Provider{Command: []string{example(t, "eks.sh"), "--region", "eu-west-1"}}
	ctx := t.Context()
	got, err := p.Get(ctx, "prod")
	if err != nil || got.KubernetesVersion != "1.36" || len(got.NodePools) != 1 || got.NodePools[0].Count != 3 || got.NodePools[0].NodeImage != "1.36.3-20261101" {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	versions, err := p.Versions(ctx)
	if err != nil || len(versions) != 3 || versions[0].Minor != 35 || versions[2].Minor != 37 {
		t.Fatalf("Versions = %v, %v", versions, err)
	}
	for range 2 { // the second time, as after a crash: nothing to do
		if err := p.UpgradeControlPlane(ctx, "prod", "v1.37"); err != nil {
			t.Fatal(err)
		}
		if _, err := p.UpgradeNodePool(ctx, "prod", "ng-user", cluster.NodePoolUpgrade{KubernetesVersion: "v1.37", MaxSurge: intstr.FromInt32(1)}); err != nil {
			t.Fatal(err)
		}
	}
	got, err = p.Get(ctx, "prod")
	if err != nil || got.KubernetesVersion != "1.37" || got.NodePools[0].KubernetesVersion != "1.37" {
		t.Fatalf("after the upgrades: %+v, %v", got, err)
	}
	log := calls()
	for _, want := range []string{
		"aws eks update-cluster-version --name prod --kubernetes-version 1.37 --query update.id --output text --region eu-west-1",
		"aws eks describe-update --name prod --update-id upd-1",
		"aws eks update-nodegroup-config --cluster-name prod --nodegroup-name ng-user --update-config maxUnavailable=1",
		"aws eks update-nodegroup-version --cluster-name prod --nodegroup-name ng-user --kubernetes-version 1.37",
	} {
		if !called(log, want) {
			t.Errorf("no call %q in:\n%s", want, strings.Join(log, "\n"))
		}
	}
	updates := 0
	for _, c := range log {
		if strings.HasPrefix(c, "aws eks update-") {
			updates++
		}
	}
	if updates != 3 {
		t.Errorf("%d updates asked of EKS, want 3 (the second round must ask none):\n%s", updates, strings.Join(log, "\n"))
	}
	var nf *exec.NotFoundError
	if _, err := p.Get(ctx, "nope"); !errors.As(err, &nf) {
		t.Errorf("Get of a missing cluster: %v", err)
	}
	if _, err := p.Create(ctx, cluster.Spec{Name: "prod-g2", KubernetesVersion: "1.37"}); err == nil || !strings.Contains(err.Error(), "eksctl or Terraform") {
		t.Errorf("create: %v", err)
	}
}

// TestGKEExample drives examples/exec-provider/gke.sh over a fake
// `gcloud container`: versions without GKE's suffix, a target mapped back
// to the full version GKE offers, the control plane then a node pool
// (its surge set first), nothing done twice, a missing cluster exit 3.
func TestGKEExample(t *testing.T) {
	calls := withCloud(t, "gcloud", map[string]*cloud{"prod": {Version: "1.36.3-gke.1200", Offered: []string{"1.37.1-gke.100", "1.36.3-gke.1200", "1.35.6-gke.300"},
		Pools: map[string]*pool{"default-pool": {Name: "default-pool", Version: "1.36.3-gke.1200", Size: 3}}}})
	p := &exec.Provider{Command: []string{example(t, "gke.sh"), "--location", "europe-west1", "--project", "shop"}}
	ctx := t.Context()
	got, err := p.Get(ctx, "prod")
	if err != nil || got.KubernetesVersion != "1.36.3" || len(got.NodePools) != 1 || got.NodePools[0].Count != 3 || got.NodePools[0].KubernetesVersion != "1.36.3" {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	versions, err := p.Versions(ctx)
	if err != nil || len(versions) != 3 || versions[2].String() != "v1.37.1" {
		t.Fatalf("Versions = %v, %v", versions, err)
	}
	for range 2 {
		if err := p.UpgradeControlPlane(ctx, "prod", "v1.37.1"); err != nil {
			t.Fatal(err)
		}
		if _, err := p.UpgradeNodePool(ctx, "prod", "default-pool", cluster.NodePoolUpgrade{KubernetesVersion: "v1.37.1", MaxSurge: intstr.FromInt32(2)}); err != nil {
			t.Fatal(err)
		}
	}
	got, err = p.Get(ctx, "prod")
	if err != nil || got.KubernetesVersion != "1.37.1" || got.NodePools[0].KubernetesVersion != "1.37.1" {
		t.Fatalf("after the upgrades: %+v, %v", got, err)
	}
	log := calls()
	for _, want := range []string{
		"gcloud container clusters upgrade prod --master --cluster-version 1.37.1-gke.100 --quiet --location europe-west1 --project shop",
		"gcloud container node-pools update default-pool --cluster prod --max-surge-upgrade 2 --max-unavailable-upgrade 0",
		"gcloud container clusters upgrade prod --node-pool default-pool --cluster-version 1.37.1-gke.100",
	} {
		if !called(log, want) {
			t.Errorf("no call %q in:\n%s", want, strings.Join(log, "\n"))
		}
	}
	upgrades := 0
	for _, c := range log {
		if strings.HasPrefix(c, "gcloud container clusters upgrade") {
			upgrades++
		}
	}
	if upgrades != 2 {
		t.Errorf("%d upgrades asked of GKE, want 2 (the second round must ask none):\n%s", upgrades, strings.Join(log, "\n"))
	}
	var nf *exec.NotFoundError
	if _, err := p.Get(ctx, "nope"); !errors.As(err, &nf) {
		t.Errorf("Get of a missing cluster: %v", err)
	}
	if _, err := p.UpgradeNodePool(ctx, "prod", "default-pool", cluster.NodePoolUpgrade{NodeImage: "cos-123"}); err == nil || !strings.Contains(err.Error(), "node images follow the node version") {
		t.Errorf("a node-image upgrade: %v", err)
	}
}
