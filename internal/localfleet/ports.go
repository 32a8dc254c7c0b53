package localfleet

import (
	"fmt"
	"net"
	"strconv"
)

// portFree reports whether a loopback port can be bound now.
func portFree(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// allocatePorts picks free loopback ports that no other cluster of the
// fleet has recorded; fixed ports are checked instead of picked. The caller
// holds the fleet lock, so two `up`s cannot pick the same port.
func (f *Fleet) allocatePorts(spec Spec) (Ports, error) {
	taken := map[int]bool{}
	clusters, err := f.Clusters()
	if err != nil {
		return Ports{}, err
	}
	for _, c := range clusters {
		for _, p := range c.Ports.all() {
			taken[p] = true
		}
	}
	fixed := func(port int, flag string) (int, error) {
		if taken[port] || !portFree(port) {
			return 0, fmt.Errorf("port %d is busy: pick another with %s or leave it out to get a free one", port, flag)
		}
		taken[port] = true
		return port, nil
	}
	pick := func() (int, error) {
		for range 100 {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return 0, fmt.Errorf("finding a free loopback port: %w", err)
			}
			port := l.Addr().(*net.TCPAddr).Port
			l.Close()
			if !taken[port] {
				taken[port] = true
				return port, nil
			}
		}
		return 0, fmt.Errorf("no free loopback port found")
	}
	var p Ports
	if spec.APIServerPort != 0 {
		if p.APIServer, err = fixed(spec.APIServerPort, "--api-server-port"); err != nil {
			return Ports{}, err
		}
	}
	if spec.IngressPort != 0 {
		if p.Ingress, err = fixed(spec.IngressPort, "--ingress-port"); err != nil {
			return Ports{}, err
		}
	}
	for _, port := range []*int{&p.APIServer, &p.Ingress, &p.EtcdClient, &p.EtcdPeer} {
		if *port == 0 {
			if *port, err = pick(); err != nil {
				return Ports{}, err
			}
		}
	}
	return p, nil
}
