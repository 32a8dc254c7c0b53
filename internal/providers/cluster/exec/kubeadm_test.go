package exec_test

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/intstr"

	"upshift.dev/upshift/internal/providers/cluster"
	"upshift.dev/upshift/internal/providers/cluster/exec"
)

// kubeadmCluster is what a fake kubeadm cluster holds between the calls of
// the example: its API server's version, what dl.k8s.io names the newest
// patch of each minor, and its nodes.
type kubeadmCluster struct {
	Server string            `json:"server"`
	Stable map[string]string `json:"stable"`
	Nodes  []*kubeadmNode    `json:"nodes"`
}

type kubeadmNode struct {
	Name         string `json:"name"`
	Pool         string `json:"pool,omitempty"`
	ControlPlane bool   `json:"controlPlane,omitempty"`
	Kubelet      string `json:"kubelet"`              // the running kubelet's version
	Repo         string `json:"repo,omitempty"`       // the apt repository's minor
	Kubeadm      string `json:"kubeadm,omitempty"`    // installed packages
	KubeletPkg   string `json:"kubeletPkg,omitempty"` //
	Cordoned     bool   `json:"cordoned,omitempty"`
	Drains       int    `json:"drains,omitempty"`
}

// fakeKubeadmCLI answers as kubectl (against the cluster) or ssh (on one
// of its nodes, as root) would, for the commands kubeadm.sh runs, over the
// cluster's state (fakeCall). What a node would refuse (kubeadm upgrade
// apply with an older kubeadm installed, a package of another minor than
// the repository's) fails.
func fakeKubeadmCLI(cli string, args []string) int {
	var c kubeadmCluster
	return fakeCall(cli, args, &c, func() int {
		if cli == "kubectl" {
			return fakeKubectl(&c, args)
		}
		return fakeSSH(&c, args)
	})
}

func (c *kubeadmCluster) node(name string) *kubeadmNode {
	for _, n := range c.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

func fakeKubectl(c *kubeadmCluster, args []string) int {
	switch {
	case slices.Equal(args, []string{"get", "--raw", "/version"}):
		fmt.Printf("{\n  \"major\": \"1\",\n  \"gitVersion\": %q,\n  \"platform\": \"linux/amd64\"\n}\n", c.Server)
	case len(args) > 3 && args[0] == "get" && args[1] == "nodes" && args[2] == "-l":
		for _, n := range c.Nodes {
			switch args[3] {
			case "node-role.kubernetes.io/control-plane":
				if n.ControlPlane {
					fmt.Printf("%s   %s\n", n.Name, n.Kubelet)
				}
			case "!node-role.kubernetes.io/control-plane":
				if !n.ControlPlane {
					pool := n.Pool
					if pool == "" {
						pool = "<none>"
					}
					fmt.Printf("%s   %s   %s   Ubuntu 22.04.4 LTS\n", n.Name, pool, n.Kubelet)
				}
			}
		}
	case len(args) > 1 && (args[0] == "drain" || args[0] == "uncordon"):
		n := c.node(args[1])
		if n == nil {
			fmt.Fprintf(os.Stderr, "Error from server (NotFound): nodes %q not found\n", args[1])
			return 1
		}
		n.Cordoned = args[0] == "drain"
		if n.Cordoned {
			n.Drains++
		}
	default:
		fmt.Fprintf(os.Stderr, "fake kubectl: unknown command %v\n", args)
		return 1
	}
	return 0
}

func fakeSSH(c *kubeadmCluster, args []string) int {
	// ssh -o BatchMode=yes [user@]node sudo COMMAND...
	for len(args) > 0 && args[0] == "-o" {
		args = args[2:]
	}
	if len(args) < 3 || args[1] != "sudo" {
		fmt.Fprintf(os.Stderr, "fake ssh: not a command as root: %v\n", args)
		return 1
	}
	host := args[0][strings.LastIndex(args[0], "@")+1:]
	n := c.node(host)
	if n == nil {
		fmt.Fprintf(os.Stderr, "ssh: Could not resolve hostname %s\n", host)
		return 255
	}
	cmd := args[2:]
	line := strings.Join(cmd, " ")
	minor := func(v string) string { v = strings.TrimPrefix(v, "v"); return v[:strings.LastIndex(v, ".")] }
	switch {
	case cmd[0] == "curl":
		m := strings.TrimSuffix(strings.TrimPrefix(cmd[len(cmd)-1], "https://dl.k8s.io/release/stable-"), ".txt")
		v, ok := c.Stable[m]
		if !ok {
			fmt.Fprintln(os.Stderr, "curl: (22) The requested URL returned error: 404")
			return 22
		}
		fmt.Println(v)
	case cmd[0] == "sed" && strings.HasSuffix(line, "/etc/apt/sources.list.d/kubernetes.list"):
		n.Repo = strings.TrimSuffix(strings.TrimPrefix(strings.Split(cmd[2], "|")[2], "/v"), "/")
	case line == "apt-get update -q", line == "systemctl daemon-reload":
	case cmd[0] == "apt-get" && cmd[1] == "install":
		for _, pkg := range cmd[2:] {
			name, v, ok := strings.Cut(pkg, "=")
			if !ok {
				continue
			}
			v = strings.TrimSuffix(v, "-*")
			if minor(v) != n.Repo {
				fmt.Fprintf(os.Stderr, "E: Version '%s' for '%s' was not found\n", v, name)
				return 100
			}
			switch name {
			case "kubeadm":
				n.Kubeadm = "v" + v
			case "kubelet":
				n.KubeletPkg = "v" + v
			}
		}
	case len(cmd) == 5 && cmd[0] == "kubeadm" && cmd[1] == "upgrade" && cmd[2] == "apply":
		if !n.ControlPlane || n.Kubeadm != cmd[4] {
			fmt.Fprintf(os.Stderr, "[upgrade/version] FATAL: the kubeadm on %s (%s) cannot upgrade to %s\n", n.Name, n.Kubeadm, cmd[4])
			return 1
		}
		c.Server = cmd[4]
	case line == "kubeadm upgrade node":
		if n.Kubeadm != c.Server {
			fmt.Fprintf(os.Stderr, "[upgrade] FATAL: kubeadm %s on %s, the control plane runs %s\n", n.Kubeadm, n.Name, c.Server)
			return 1
		}
	case line == "systemctl restart kubelet":
		if !n.Cordoned {
			fmt.Fprintf(os.Stderr, "fake ssh: %s restarted its kubelet without a drain\n", n.Name)
			return 1
		}
		n.Kubelet = n.KubeletPkg
	default:
		fmt.Fprintf(os.Stderr, "fake ssh: unknown command %v\n", cmd)
		return 1
	}
	return 0
}

// TestKubeadmExample drives examples/exec-provider/kubeadm.sh through the
// exec provider over a fake cluster (kubectl) and its nodes (ssh): get
// groups the workers by their pool label; versions are the newest patch
// of the cluster's minor and of the next; the control plane is upgraded
// with kubeadm on the first control-plane node and then the others, each
// control-plane kubelet after a drain; a pool's nodes are upgraded in
// place one by one; done again (as after a crash) nothing is; a node-image
// upgrade and create are refused.
func TestKubeadmExample(t *testing.T) {
	state := kubeadmCluster{Server: "v1.36.3", Stable: map[string]string{"1.36": "v1.36.3", "1.37": "v1.37.2"}, Nodes: []*kubeadmNode{
		{Name: "cp-1", ControlPlane: true, Kubelet: "v1.36.3", Repo: "1.36"},
		{Name: "cp-2", ControlPlane: true, Kubelet: "v1.36.3", Repo: "1.36"},
		{Name: "web-1", Pool: "web", Kubelet: "v1.36.3", Repo: "1.36"},
		{Name: "web-2", Pool: "web", Kubelet: "v1.36.3", Repo: "1.36"},
		{Name: "batch-1", Kubelet: "v1.36.3", Repo: "1.36"},
	}}
	path, calls := withFakes(t, state, "kubectl", "ssh")
	t.Setenv("TMPDIR", t.TempDir())
	read := func() kubeadmCluster {
		var c kubeadmCluster
		data, _ := os.ReadFile(path)
		_ = json.Unmarshal(data, &c)
		return c
	}

	p := &exec.Provider{Command: []string{example(t, "kubeadm.sh")}, Env: map[string]string{"KUBEADM_SSH_USER": "admin"}}
	ctx := t.Context()
	got, err := p.Get(ctx, "onprem")
	if err != nil || got.KubernetesVersion != "v1.36.3" || len(got.NodePools) != 2 ||
		got.NodePools[0].Name != "web" || got.NodePools[0].Count != 2 || got.NodePools[1].Name != "workers" || got.NodePools[1].Count != 1 ||
		got.NodePools[0].KubernetesVersion != "v1.36.3" || got.NodePools[0].NodeImage != "Ubuntu 22.04.4 LTS" {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	versions, err := p.Versions(ctx)
	if err != nil || len(versions) != 2 || versions[0].String() != "v1.36.3" || versions[1].String() != "v1.37.2" {
		t.Fatalf("Versions = %v, %v", versions, err)
	}
	for round := range 2 { // the second time, as after a crash: nothing to do
		if err := p.UpgradeControlPlane(ctx, "onprem", "v1.37.2"); err != nil {
			t.Fatal(err)
		}
		res, err := p.UpgradeNodePool(ctx, "onprem", "web", cluster.NodePoolUpgrade{KubernetesVersion: "v1.37", MaxSurge: intstr.FromInt32(1)})
		if want := []int{2, 0}[round]; err != nil || res.Replaced != want {
			t.Fatalf("round %d: node pool web: %+v, %v; want %d replaced", round+1, res, err, want)
		}
	}
	c := read()
	if c.Server != "v1.37.2" {
		t.Errorf("the API server runs %s, want v1.37.2", c.Server)
	}
	for _, n := range c.Nodes {
		want, drains := "v1.37.2", 1
		if n.Name == "batch-1" {
			want, drains = "v1.36.3", 0 // another pool: left alone
		}
		if n.Kubelet != want || n.Drains != drains || n.Cordoned {
			t.Errorf("node %s: kubelet %s, %d drain(s), cordoned %v; want %s, %d, uncordoned", n.Name, n.Kubelet, n.Drains, n.Cordoned, want, drains)
		}
	}
	log := calls()
	for _, want := range []string{
		"ssh -o BatchMode=yes admin@cp-1 sudo kubeadm upgrade apply -y v1.37.2",
		"ssh -o BatchMode=yes admin@cp-2 sudo kubeadm upgrade node",
		"kubectl drain web-1 --ignore-daemonsets --delete-emptydir-data --timeout=1800s",
	} {
		if !called(log, want) {
			t.Errorf("no call %q in:\n%s", want, strings.Join(log, "\n"))
		}
	}
	if n := strings.Count(strings.Join(log, "\n"), "kubeadm upgrade apply"); n != 1 {
		t.Errorf("kubeadm upgrade apply ran %d times, want once (the second round must do nothing)", n)
	}
	if _, err := p.UpgradeNodePool(ctx, "onprem", "web", cluster.NodePoolUpgrade{NodeImage: "ubuntu-2404"}); err == nil || !strings.Contains(err.Error(), "does not change node images") {
		t.Errorf("a node-image upgrade: %v", err)
	}
	if _, err := p.Create(ctx, cluster.Spec{Name: "onprem-g2", KubernetesVersion: "1.37"}); err == nil || !strings.Contains(err.Error(), "does not create clusters") {
		t.Errorf("create: %v", err)
	}
}
