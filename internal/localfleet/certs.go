package localfleet

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"upshift.dev/upshift/internal/pki"
)

// Identities of the components, as their client certificates name them.
var identities = map[string]pki.Request{
	"admin":              {CommonName: "upshift-admin", Organizations: []string{"system:masters"}, Client: true},
	"controller-manager": {CommonName: "system:kube-controller-manager", Client: true},
	"scheduler":          {CommonName: "system:kube-scheduler", Client: true},
	"kwok":               {CommonName: "kwok-controller", Organizations: []string{"system:masters"}, Client: true},
}

// writePKI makes the cluster's CA, the API server's serving certificate,
// the service-account key and one kubeconfig per client identity.
func (c *Cluster) writePKI() error {
	if err := os.MkdirAll(c.path("pki"), 0o700); err != nil {
		return err
	}
	ca, err := pki.NewCA(c.Name + "-ca")
	if err != nil {
		return err
	}
	files := map[string][]byte{"ca.crt": ca.CertPEM, "ca.key": ca.KeyPEM}
	files["apiserver.crt"], files["apiserver.key"], err = ca.Issue(pki.Request{
		CommonName: "kube-apiserver",
		DNSNames:   []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
		IPs:        []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.96.0.1")},
		Server:     true,
	})
	if err != nil {
		return err
	}
	// etcd serves clients and its peer over TLS and admits only clients
	// with a certificate of the cluster's CA: the API server, and upshift's
	// own health check.
	files["etcd.crt"], files["etcd.key"], err = ca.Issue(pki.Request{CommonName: "etcd", DNSNames: []string{"localhost"}, IPs: []net.IP{net.ParseIP("127.0.0.1")}, Server: true, Client: true})
	if err != nil {
		return err
	}
	files["etcd-client.crt"], files["etcd-client.key"], err = ca.Issue(pki.Request{CommonName: "kube-apiserver-etcd-client", Client: true})
	if err != nil {
		return err
	}
	files["sa.key"], files["sa.pub"], err = pki.NewSigningKey()
	if err != nil {
		return err
	}
	for name, data := range files {
		if err := os.WriteFile(c.path("pki", name), data, 0o600); err != nil {
			return fmt.Errorf("writing %s: %w", name, err)
		}
	}
	for name, req := range identities {
		cert, key, err := ca.Issue(req)
		if err != nil {
			return err
		}
		path := c.path("pki", name+".kubeconfig")
		if name == "admin" {
			path = c.KubeconfigPath()
		}
		if err := clientcmd.WriteToFile(*c.kubeconfig(ca.CertPEM, cert, key, req.CommonName), path); err != nil {
			return fmt.Errorf("writing kubeconfig %s: %w", path, err)
		}
		if err := os.Chmod(path, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// etcdTLS says the cluster's etcd speaks TLS with client certificates:
// every cluster made since upshift issued etcd certificates. An older one
// keeps plain HTTP on loopback until it is recreated.
func (c *Cluster) etcdTLS() bool {
	_, err := os.Stat(c.path("pki", "etcd-client.key"))
	return err == nil
}

// etcdScheme is how etcd's client and peer URLs are served.
func (c *Cluster) etcdScheme() string {
	if c.etcdTLS() {
		return "https"
	}
	return "http"
}

// etcdClient is an HTTP client that presents the etcd client certificate.
func (c *Cluster) etcdClient() (*http.Client, error) {
	if !c.etcdTLS() {
		return &http.Client{Timeout: 2 * time.Second}, nil
	}
	pair, err := tls.LoadX509KeyPair(c.path("pki", "etcd-client.crt"), c.path("pki", "etcd-client.key"))
	if err != nil {
		return nil, err
	}
	caPEM, err := os.ReadFile(c.path("pki", "ca.crt"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	return &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		MinVersion: tls.VersionTLS12, RootCAs: pool, Certificates: []tls.Certificate{pair},
	}}}, nil
}

// kubeconfig builds a kubeconfig whose cluster and context are named after
// the cluster.
func (c *Cluster) kubeconfig(caPEM, certPEM, keyPEM []byte, user string) *clientcmdapi.Config {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[c.Name] = &clientcmdapi.Cluster{Server: c.APIServerURL(), CertificateAuthorityData: caPEM}
	cfg.AuthInfos[c.Name+"-"+user] = &clientcmdapi.AuthInfo{ClientCertificateData: certPEM, ClientKeyData: keyPEM}
	cfg.Contexts[c.Name] = &clientcmdapi.Context{Cluster: c.Name, AuthInfo: c.Name + "-" + user}
	cfg.CurrentContext = c.Name
	return cfg
}
