package localfleet

import (
	"context"
	_ "embed"
	"fmt"
	"strconv"

	"upshift.dev/upshift/internal/procs"
	"upshift.dev/upshift/internal/toolchain"
)

// Component names, in start order.
const (
	compEtcd              = "etcd"
	compAPIServer         = "kube-apiserver"
	compControllerManager = "kube-controller-manager"
	compScheduler         = "kube-scheduler"
	compKwok              = "kwok"
	compIngress           = "ingress"
)

// kwokStages are the fake kubelets' behaviour (kwok-stages.yaml says
// where they come from).
//
//go:embed kwok-stages.yaml
var kwokStages []byte

// componentOrder is the start order; stop goes the other way.
var componentOrder = []string{compEtcd, compAPIServer, compControllerManager, compScheduler, compKwok, compIngress}

// controlPlane are the components an upgrade restarts on the new version.
var controlPlane = []string{compAPIServer, compControllerManager, compScheduler}

// ServiceCIDR is the service range of local clusters. No traffic is ever
// sent to it: kwok pods and services exist only as API objects.
const ServiceCIDR = "10.96.0.0/16"

// binaries resolves the paths of every binary a cluster at release r needs,
// building what the cache lacks.
func (f *Fleet) binaries(ctx context.Context, r toolchain.Release) (map[string]string, error) {
	paths := map[string]string{}
	for name, b := range map[string]toolchain.Binary{"kube": toolchain.Kube(r), "etcd": toolchain.Etcd(), "kwok": toolchain.Kwok()} {
		if !f.Tools.Built(b) {
			f.progress("building %s (first use on this machine)", b)
		}
		path, err := f.Tools.Ensure(ctx, b)
		if err != nil {
			return nil, err
		}
		paths[name] = path
	}
	return paths, nil
}

// componentSpec says how to run one component of the cluster.
func (f *Fleet) componentSpec(c *Cluster, name string, bins map[string]string) procs.Spec {
	port := func(p int) string { return strconv.Itoa(p) }
	etcdURL := c.etcdScheme() + "://127.0.0.1:" + port(c.Ports.EtcdClient)
	peerURL := c.etcdScheme() + "://127.0.0.1:" + port(c.Ports.EtcdPeer)
	spec := procs.Spec{Name: name, Dir: c.dir, LogFile: c.path("logs", name+".log")}
	switch name {
	case compEtcd:
		spec.Path = bins["etcd"]
		spec.Args = []string{
			"--name=" + c.Name,
			"--data-dir=" + c.path("etcd"),
			"--listen-client-urls=" + etcdURL,
			"--advertise-client-urls=" + etcdURL,
			"--listen-peer-urls=" + peerURL,
			"--initial-advertise-peer-urls=" + peerURL,
			"--initial-cluster=" + c.Name + "=" + peerURL,
			"--initial-cluster-state=new",
			"--log-level=warn",
			"--quota-backend-bytes=8589934592",
			"--auto-compaction-mode=periodic",
			"--auto-compaction-retention=5m",
		}
		if c.UnsafeNoFsync {
			// Asked for at `local up --unsafe-no-fsync` (benchmarks): speed
			// over durability across a power cut.
			spec.Args = append(spec.Args, "--unsafe-no-fsync=true")
		}
		if c.etcdTLS() {
			pkiFile := func(n string) string { return c.path("pki", n) }
			spec.Args = append(spec.Args,
				"--cert-file="+pkiFile("etcd.crt"), "--key-file="+pkiFile("etcd.key"),
				"--client-cert-auth=true", "--trusted-ca-file="+pkiFile("ca.crt"),
				"--peer-cert-file="+pkiFile("etcd.crt"), "--peer-key-file="+pkiFile("etcd.key"),
				"--peer-client-cert-auth=true", "--peer-trusted-ca-file="+pkiFile("ca.crt"))
		}
	case compAPIServer:
		spec.Path = bins["kube"]
		spec.Args = []string{
			"apiserver",
			"--etcd-servers=" + etcdURL,
			"--bind-address=127.0.0.1",
			"--advertise-address=127.0.0.1",
			// Nothing in a local cluster reaches the API server through the
			// kubernetes Service, and from 1.37 the endpoint reconcilers
			// refuse a loopback address.
			"--endpoint-reconciler-type=none",
			"--secure-port=" + port(c.Ports.APIServer),
			"--tls-cert-file=" + c.path("pki", "apiserver.crt"),
			"--tls-private-key-file=" + c.path("pki", "apiserver.key"),
			"--client-ca-file=" + c.path("pki", "ca.crt"),
			"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
			"--service-account-key-file=" + c.path("pki", "sa.pub"),
			"--service-account-signing-key-file=" + c.path("pki", "sa.key"),
			"--service-cluster-ip-range=" + ServiceCIDR,
			"--authorization-mode=Node,RBAC",
			"--allow-privileged=true",
			"--profiling=false",
			// No kubelets, no aggregated APIs, one tenant: keep the server lean
			// and let the API server, not flow control, bound scale tests.
			"--enable-priority-and-fairness=false",
			"--max-requests-inflight=1000",
			"--max-mutating-requests-inflight=500",
			"--event-ttl=30m",
		}
		if c.etcdTLS() {
			spec.Args = append(spec.Args, "--etcd-cafile="+c.path("pki", "ca.crt"),
				"--etcd-certfile="+c.path("pki", "etcd-client.crt"), "--etcd-keyfile="+c.path("pki", "etcd-client.key"))
		}
	case compControllerManager:
		spec.Path = bins["kube"]
		spec.Args = []string{
			"controller-manager",
			"--kubeconfig=" + c.path("pki", "controller-manager.kubeconfig"),
			"--secure-port=0",
			"--leader-elect=false",
			"--use-service-account-credentials=true",
			"--service-account-private-key-file=" + c.path("pki", "sa.key"),
			"--root-ca-file=" + c.path("pki", "ca.crt"),
			"--cluster-signing-cert-file=" + c.path("pki", "ca.crt"),
			"--cluster-signing-key-file=" + c.path("pki", "ca.key"),
			"--service-cluster-ip-range=" + ServiceCIDR,
			"--kube-api-qps=500",
			"--kube-api-burst=1000",
			"--profiling=false",
		}
	case compScheduler:
		spec.Path = bins["kube"]
		spec.Args = []string{
			"scheduler",
			"--kubeconfig=" + c.path("pki", "scheduler.kubeconfig"),
			"--secure-port=0",
			"--leader-elect=false",
			"--kube-api-qps=500",
			"--kube-api-burst=1000",
			"--profiling=false",
		}
	case compKwok:
		// kwok's client has no rate limit of its own (it uses an always-allow
		// limiter), so scale tests are bounded by the API server.
		spec.Path = bins["kwok"]
		spec.Args = []string{
			"--kubeconfig=" + c.path("pki", "kwok.kubeconfig"),
			"--config=" + c.path("kwok.yaml"),
			"--manage-all-nodes=false",
			"--manage-nodes-with-annotation-selector=" + KwokNodeAnnotation + "=fake",
			"--node-lease-duration-seconds=40",
			"--cidr=10.0.0.1/16",
			"--node-ip=10.0.0.1",
		}
	case compIngress:
		spec.Path = f.DaemonCommand[0]
		spec.Args = append(append([]string{}, f.DaemonCommand[1:]...),
			"local", "serve-ingress",
			"--cluster="+c.Name,
			"--kubeconfig="+c.KubeconfigPath(),
			"--listen=127.0.0.1:"+port(c.Ports.Ingress),
		)
	default:
		panic(fmt.Sprintf("unknown component %q", name))
	}
	return spec
}
