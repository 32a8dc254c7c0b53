package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"upshift.dev/upshift/internal/dashboard"
	"upshift.dev/upshift/internal/dashboard/kubeauth"
	"upshift.dev/upshift/internal/printer"
	"upshift.dev/upshift/internal/restconfig"
	"upshift.dev/upshift/internal/store"
)

const envDashboardToken = "UPSHIFT_DASHBOARD_TOKEN"

type dashboardOptions struct {
	runOptions
	listen string
	flags  dashboardFlags
}

func newDashboardCommand(s Streams) *cobra.Command {
	o := &dashboardOptions{runOptions: runOptions{streams: s}}
	cmd := &cobra.Command{
		Use:   "dashboard [--listen ADDR] [--auth token|kubernetes] [--context HUB_CONTEXT]",
		Short: "Serve the web dashboard of the home's runs (or a hub's): live trees, approve, stop, roll back",
		Long: `Serve the web dashboard: the runs, each run's stage → cluster → step tree with
times, gate and analysis results, traffic weights, and the approvals that wait,
updated live. Its buttons approve, stop and roll back; forms carry a CSRF token.

People sign in one of two ways (--auth):
  token       one shared token, each person naming themselves: for one user on
              loopback. The token comes from --token-file, else $` + envDashboardToken + `,
              else a new one is written to HOME/dashboard-token (mode 0600) and its
              path printed; the token itself is never printed or logged.
  kubernetes  with a hub (--context): each person signs in with their own Kubernetes
              token, checked by the API server (TokenReview); approve, stop and roll
              back are allowed only when the API server says this user may make
              that change (SubjectAccessReview), and the audit trail names the
              user the API server named.

Sessions are signed cookies: dashboards sharing --session-key-file accept each
other's, so replicas behind one Service keep people signed in. Serve over TLS
(--tls-cert-file, --tls-key-file; cookies are then Secure) anywhere but loopback.`,
		Example: `  upshift dashboard --listen 127.0.0.1:8090
  upshift dashboard --context hub -n fleet --auth kubernetes --listen :8443 \
    --tls-cert-file tls.crt --tls-key-file tls.key --session-key-file session.key`,
		Args: exactArgs(0, ""),
		RunE: runE(o),
	}
	o.addHome(cmd)
	o.addHub(cmd)
	cmd.Flags().StringVar(&o.listen, "listen", "127.0.0.1:8090", "address to serve the dashboard on")
	o.flags.add(cmd, "")
	return cmd
}

func (o *dashboardOptions) Complete(*cobra.Command, []string) error {
	o.printer = printer.New(o.streams.Err)
	return nil
}

func (o *dashboardOptions) Validate() error {
	if _, _, err := net.SplitHostPort(o.listen); err != nil {
		return usagef("--listen %q: give HOST:PORT, e.g. 127.0.0.1:8090", o.listen)
	}
	if err := o.flags.validate(); err != nil {
		return err
	}
	if o.flags.auth == dashboardAuthKubernetes && !o.onHub() {
		return usagef("--auth %s checks people against a hub's API server: give the hub's --context", dashboardAuthKubernetes)
	}
	return nil
}

func (o *dashboardOptions) Run(ctx context.Context) error {
	if err := o.openHub(ctx); err != nil {
		return err
	}
	place := "home " + o.home
	var cfg *rest.Config
	if o.onHub() {
		place = "hub " + o.hubName() + " · namespace " + o.hubNamespace
		c, err := restconfig.FromKubeconfig(o.hubKubeconfig, o.hub)
		if err != nil {
			return usagef("hub %s: %v", o.hubName(), err)
		}
		cfg = c
	}
	d, err := o.flags.server(o.store(), place, o.home, cfg, o.hubNamespace, o.printer)
	if err != nil {
		return err
	}
	stop, url, err := o.flags.serve(o.listen, d)
	if err != nil {
		return err
	}
	defer stop()
	o.printer.Success("dashboard on %s (Ctrl-C stops it)", url)
	<-ctx.Done()
	return nil
}

// How the dashboard signs people in (--auth).
const (
	dashboardAuthToken      = "token"
	dashboardAuthKubernetes = "kubernetes"
)

// dashboardFlags are the dashboard's flags, shared by `upshift dashboard`
// and `upshift hub run` (there prefixed "dashboard-").
type dashboardFlags struct {
	prefix                                           string
	auth, tokenFile, sessionKeyFile, tlsCert, tlsKey string
}

func (f *dashboardFlags) add(cmd *cobra.Command, prefix string) {
	f.prefix = prefix
	fl := cmd.Flags()
	fl.StringVar(&f.auth, prefix+"auth", dashboardAuthToken, "how people sign in: token (one shared token) or kubernetes (their own token, checked by the hub's API server; RBAC decides who approves)")
	fl.StringVar(&f.tokenFile, prefix+"token-file", "", "with --"+prefix+"auth token: file holding the shared token (default $"+envDashboardToken+", else HOME/dashboard-token)")
	fl.StringVar(&f.sessionKeyFile, prefix+"session-key-file", "", "file holding the key that signs sessions (32 bytes or more); replicas that share it share sessions (default: a new key per process)")
	fl.StringVar(&f.tlsCert, prefix+"tls-cert-file", "", "serve HTTPS with this certificate (PEM; re-read when it changes)")
	fl.StringVar(&f.tlsKey, prefix+"tls-key-file", "", "the certificate's private key (PEM)")
}

func (f *dashboardFlags) validate() error {
	switch f.auth {
	case dashboardAuthToken, dashboardAuthKubernetes:
	default:
		return usagef("--%sauth %q: give %s or %s", f.prefix, f.auth, dashboardAuthToken, dashboardAuthKubernetes)
	}
	if (f.tlsCert == "") != (f.tlsKey == "") {
		return usagef("--%stls-cert-file and --%stls-key-file go together", f.prefix, f.prefix)
	}
	if f.tlsCert != "" {
		if _, err := tls.LoadX509KeyPair(f.tlsCert, f.tlsKey); err != nil {
			return usagef("--%stls-cert-file/--%stls-key-file: %v", f.prefix, f.prefix, err)
		}
	}
	return nil
}

// server makes the dashboard over runs; cfg reaches the hub whose API
// server checks people with --auth kubernetes.
func (f *dashboardFlags) server(runs store.Runs, where, home string, cfg *rest.Config, namespace string, p *printer.Printer) (*dashboard.Server, error) {
	d := &dashboard.Server{Runs: runs, Where: where, Secure: f.tlsCert != ""}
	if f.sessionKeyFile != "" {
		key, err := os.ReadFile(f.sessionKeyFile)
		if err != nil {
			return nil, usagef("--%ssession-key-file: %v", f.prefix, err)
		}
		if key = bytes.TrimSpace(key); len(key) < 32 {
			return nil, usagef("--%ssession-key-file %s: the key must be at least 32 bytes (openssl rand -hex 32)", f.prefix, f.sessionKeyFile)
		}
		d.SessionKey = key
	}
	if f.auth == dashboardAuthKubernetes {
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return nil, err
		}
		d.Auth = &kubeauth.Authenticator{Client: cs, Namespace: namespace}
		return d, nil
	}
	token, file, err := dashboardToken(f.tokenFile, home)
	if err != nil {
		return nil, err
	}
	if file != "" {
		p.Action("dashboard token in %s", file)
	}
	d.Token = token
	return d, nil
}

// serve serves the dashboard on addr, over TLS when a certificate was
// given, until stop is called; url is where it listens.
func (f *dashboardFlags) serve(addr string, d *dashboard.Server) (stop func(), url string, err error) {
	var certs *certReloader
	if f.tlsCert != "" {
		certs = &certReloader{cert: f.tlsCert, key: f.tlsKey}
	}
	stop, bound, err := serveDashboard(addr, d, certs)
	if err != nil {
		return nil, "", err
	}
	scheme := "http"
	if certs != nil {
		scheme = "https"
	}
	return stop, scheme + "://" + bound + "/", nil
}

// certReloader serves the certificate files as they are now: a Secret's
// renewed certificate is taken up without a restart.
type certReloader struct {
	cert, key string
	mu        sync.Mutex
	mtime     time.Time
	current   *tls.Certificate
}

func (c *certReloader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var latest time.Time
	for _, f := range []string{c.cert, c.key} {
		if st, err := os.Stat(f); err == nil && st.ModTime().After(latest) {
			latest = st.ModTime()
		}
	}
	if c.current == nil || latest.After(c.mtime) {
		pair, err := tls.LoadX509KeyPair(c.cert, c.key)
		if err != nil {
			if c.current != nil {
				return c.current, nil // a half-written renewal: keep serving the old one
			}
			return nil, err
		}
		c.current, c.mtime = &pair, latest
	}
	return c.current, nil
}

// dashboardToken reads the token, or makes one in the home; where says
// the file a new token went to.
func dashboardToken(file, home string) (token, where string, err error) {
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return "", "", usagef("--token-file: %v", err)
		}
		if token = strings.TrimSpace(string(data)); len(token) < 16 {
			return "", "", usagef("--token-file %s: the token must be at least 16 characters", file)
		}
		return token, "", nil
	}
	if token = strings.TrimSpace(os.Getenv(envDashboardToken)); token != "" {
		if len(token) < 16 {
			return "", "", usagef("$%s: the token must be at least 16 characters", envDashboardToken)
		}
		return token, "", nil
	}
	path := filepath.Join(home, "dashboard-token")
	if data, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(data))) >= 16 {
		return strings.TrimSpace(string(data)), path, nil
	}
	if err := os.MkdirAll(home, 0o700); err != nil {
		return "", "", err
	}
	token = dashboard.NewToken()
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		return "", "", err
	}
	return token, path, nil
}

// serveDashboard serves the dashboard on addr until stop is called, over
// TLS when certs is not nil. It sets no write timeout: event streams stay
// open.
func serveDashboard(addr string, d *dashboard.Server, certs *certReloader) (stop func(), bound string, err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", usagef("--listen %s: %v", addr, err)
	}
	bound = ln.Addr().String()
	if certs != nil {
		ln = tls.NewListener(ln, &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: certs.get, NextProtos: []string{"h2", "http/1.1"}})
	}
	// Event streams end with the server: their requests share its context.
	base, cancel := context.WithCancel(context.Background())
	srv := &http.Server{Handler: d.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute,
		BaseContext: func(net.Listener) context.Context { return base }}
	done := make(chan struct{})
	go func() { _ = srv.Serve(ln); close(done) }()
	return func() {
		cancel()
		ctx, cancelShutdown := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancelShutdown()
		if srv.Shutdown(ctx) != nil {
			_ = srv.Close()
		}
		<-done
	}, bound, nil
}
