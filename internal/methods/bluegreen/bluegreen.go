package bluegreen

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/freeze"
	"upshift.dev/upshift/internal/loadgen"
	"upshift.dev/upshift/internal/methods"
	"upshift.dev/upshift/internal/providers/cluster"
	"upshift.dev/upshift/internal/providers/traffic"
)

// Phase step names, in order.
const (
	StepBaseline    = "T0-Baseline"
	StepDeployGreen = "T1-DeployGreen"
	StepSync        = "T2-Sync"
	StepSwitch      = "T3-Switch"
	StepRetireBlue  = "T4-RetireBlue"
)

// Steps are the phases of a blue-green move.
var Steps = []string{StepBaseline, StepDeployGreen, StepSync, StepSwitch, StepRetireBlue}

// Cluster is one side of the move as the engine resolved it.
type Cluster struct {
	Name       string // the provider's name
	RESTConfig *rest.Config
	Kubeconfig string
}

// Move is one cluster's blue-green move. The engine fills it and calls
// the phases in order.
type Move struct {
	Run           string
	Spec          v1alpha1.BlueGreenSpec
	TargetVersion string // full version, e.g. v1.34.4
	NodeImage     string // the run's node image; empty keeps blue's
	Provider      cluster.Provider
	Traffic       traffic.Provider
	Blue          Cluster
	// Resolve finds how to reach a cluster of the provider by name.
	Resolve func(name string) (Cluster, error)
	// Status returns the move's recorded status; Record changes and saves
	// it before returning.
	Status func() v1alpha1.BlueGreenStatus
	Record func(func(*v1alpha1.BlueGreenStatus))
	// Gates runs gates against a cluster, as the engine runs its gates.
	Gates func(ctx context.Context, list []v1alpha1.GateSpec, c Cluster) (string, error)
	// Progress reports what a long phase is doing.
	Progress func(msg string)
}

func (m *Move) progress(format string, args ...any) {
	if m.Progress != nil {
		m.Progress(fmt.Sprintf(format, args...))
	}
}

func now() *metav1.Time { t := metav1.NewTime(time.Now().UTC()); return &t }

var generation = regexp.MustCompile(`^(.*)-g(\d+)$`)

// GreenName derives green's name from blue's: app → app-g2 → app-g3. It
// is a function of blue alone, so a resumed move finds the green it made.
func GreenName(blue string) string {
	if m := generation.FindStringSubmatch(blue); m != nil {
		n, _ := strconv.Atoi(m[2])
		return fmt.Sprintf("%s-g%d", m[1], n+1)
	}
	return blue + "-g2"
}

func (m *Move) hosts() v1alpha1.HostNames { return m.Spec.Traffic.Hosts }

// target is how upshift's probes reach a name: through the front door's
// URL with the name as Host, or the name itself.
func (m *Move) target(host, path string) loadgen.Target {
	if path == "" {
		path = "/"
	}
	if u := strings.TrimSuffix(m.Spec.Traffic.URL, "/"); u != "" {
		return loadgen.Target{URL: u + path, Host: host}
	}
	return loadgen.Target{URL: "http://" + host + path}
}

// gatesFor points HTTP gates written as a path at a name.
func (m *Move) gatesFor(list []v1alpha1.GateSpec, host string) []v1alpha1.GateSpec {
	out := make([]v1alpha1.GateSpec, len(list))
	for i, g := range list {
		g = *g.DeepCopy()
		if g.HTTP != nil && strings.HasPrefix(g.HTTP.URL, "/") {
			t := m.target(host, g.HTTP.URL)
			g.HTTP.URL, g.HTTP.Host = t.URL, t.Host
		}
		out[i] = g
	}
	return out
}

func (m *Move) identities() freeze.Identities {
	f := m.Spec.Freeze
	return freeze.Identities{Users: f.Users, Groups: f.Groups, ServiceAccounts: f.ServiceAccounts}
}

func (m *Move) frozen() bool {
	f := m.Spec.Freeze
	return len(f.Users)+len(f.Groups)+len(f.ServiceAccounts) > 0
}

// ClusterName is the switched name whose traffic the move shifts.
func (m *Move) ClusterName() string { return m.hosts().Cluster }

// RolledBackError is a switch undone: traffic is back on blue.
type RolledBackError = methods.RolledBackError

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
