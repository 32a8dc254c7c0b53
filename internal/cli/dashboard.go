package cli

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"upshift.dev/upshift/internal/dashboard"
	"upshift.dev/upshift/internal/printer"
)

const envDashboardToken = "UPSHIFT_DASHBOARD_TOKEN"

type dashboardOptions struct {
	runOptions
	listen, tokenFile string
}

func newDashboardCommand(s Streams) *cobra.Command {
	o := &dashboardOptions{runOptions: runOptions{streams: s}}
	cmd := &cobra.Command{
		Use:   "dashboard [--listen ADDR] [--token-file F] [--hub CONTEXT]",
		Short: "Serve the web dashboard of the home's runs (or a hub's): live trees, approve, stop, roll back",
		Long: `Serve the web dashboard: the runs, each run's stage → cluster → step tree with
times, gate and analysis results, traffic weights, and the approvals that wait,
updated live. Its buttons approve, stop and roll back; they need the dashboard
token (sign in with it once; forms carry a CSRF token).

The token comes from --token-file, else $` + envDashboardToken + `, else a new one
is written to HOME/dashboard-token (mode 0600) and its path printed; the token
itself is never printed or logged. Serve it on loopback, or behind TLS.`,
		Example: `  upshift dashboard --listen 127.0.0.1:8090
  upshift dashboard --hub hub --hub-namespace fleet --token-file ~/.upshift-token`,
		Args: exactArgs(0, ""),
		RunE: runE(o),
	}
	o.addHome(cmd)
	o.addHub(cmd)
	cmd.Flags().StringVar(&o.listen, "listen", "127.0.0.1:8090", "address to serve the dashboard on")
	cmd.Flags().StringVar(&o.tokenFile, "token-file", "", "file holding the dashboard token (default $"+envDashboardToken+", else HOME/dashboard-token)")
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
	return nil
}

func (o *dashboardOptions) Run(ctx context.Context) error {
	if err := o.openHub(ctx); err != nil {
		return err
	}
	token, where, err := dashboardToken(o.tokenFile, o.home)
	if err != nil {
		return err
	}
	if where != "" {
		o.printer.Action("dashboard token in %s", where)
	}
	place := "home " + o.home
	if o.hub != "" {
		place = "hub " + o.hub + " · namespace " + o.hubNamespace
	}
	stop, addr, err := serveDashboard(o.listen, &dashboard.Server{Runs: o.store(), Token: token, Where: place})
	if err != nil {
		return err
	}
	defer stop()
	o.printer.Success("dashboard on http://%s/ (Ctrl-C stops it)", addr)
	<-ctx.Done()
	return nil
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

// serveDashboard serves the dashboard on addr until stop is called. It
// sets no write timeout: event streams stay open.
func serveDashboard(addr string, d *dashboard.Server) (stop func(), bound string, err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", usagef("--listen %s: %v", addr, err)
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
	}, ln.Addr().String(), nil
}
