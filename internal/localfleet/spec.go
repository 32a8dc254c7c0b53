package localfleet

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"upshift.dev/upshift/internal/names"
)

// Spec asks for a local cluster.
type Spec struct {
	Name              string
	KubernetesVersion string // as the user typed it: 1.34, v1.34.4
	NodePools         []PoolSpec
	NodeImage         string // default node image of the pools
	// APIServerPort and IngressPort pin ports; 0 picks free ones.
	APIServerPort int
	IngressPort   int
	// UnsafeNoFsync runs etcd without fsync, for benchmarks: faster, not
	// durable across a power cut. Off by default.
	UnsafeNoFsync bool
}

// PoolSpec asks for a node pool.
type PoolSpec struct {
	Name  string
	Count int
}

// DefaultNodeImage is the node image of pools that do not name one.
const DefaultNodeImage = "ubuntu-2204-2025.01"

// MaxPoolNodes bounds one pool; kwok nodes are cheap but not free.
const MaxPoolNodes = 5000

var nodeImagePattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$`)

// ParsePool reads NAME=COUNT, as given to --node-pool.
func ParsePool(s string) (PoolSpec, error) {
	name, count, ok := strings.Cut(s, "=")
	if !ok {
		return PoolSpec{}, fmt.Errorf("node pool %q: write NAME=COUNT, e.g. --node-pool user=5", s)
	}
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
		return PoolSpec{}, fmt.Errorf("node pool %q: name %q is not a DNS label (%s)", s, name, strings.Join(errs, "; "))
	}
	n, err := strconv.Atoi(count)
	if err != nil || n < 0 || n > MaxPoolNodes {
		return PoolSpec{}, fmt.Errorf("node pool %q: count %q must be a whole number from 0 to %d", s, count, MaxPoolNodes)
	}
	return PoolSpec{Name: name, Count: n}, nil
}

// Validate checks a spec without touching anything.
func (s *Spec) Validate() error {
	if err := names.Label("local cluster", s.Name); err != nil {
		return err
	}
	if len(s.Name) > 40 {
		return fmt.Errorf("cluster name %q: at most 40 characters", s.Name)
	}
	seen := map[string]bool{}
	for _, p := range s.NodePools {
		if seen[p.Name] {
			return fmt.Errorf("node pool %q is given twice", p.Name)
		}
		seen[p.Name] = true
	}
	if s.NodeImage != "" && !nodeImagePattern.MatchString(s.NodeImage) {
		return fmt.Errorf("node image %q: use lowercase letters, digits, '.', '-' and '_', e.g. %s", s.NodeImage, DefaultNodeImage)
	}
	for _, port := range []int{s.APIServerPort, s.IngressPort} {
		if port < 0 || port > 65535 {
			return fmt.Errorf("port %d is out of range 1-65535", port)
		}
	}
	if s.APIServerPort != 0 && s.APIServerPort == s.IngressPort {
		return fmt.Errorf("the API server and the ingress stand-in cannot share port %d", s.APIServerPort)
	}
	return nil
}
