package localfleet

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"sync"
)

// listenRange is where listening ports are picked: below the kernel's
// ephemeral range, which outbound connections draw from, so a busy client
// (a load test) cannot take a port between its pick and its bind.
func listenRange() (lo, hi int) {
	lo, hi = 20000, 32768
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return lo, hi
	}
	var ephemeralLow, ephemeralHigh int
	if n, _ := fmt.Sscanf(string(data), "%d %d", &ephemeralLow, &ephemeralHigh); n == 2 && ephemeralLow > 2048 {
		hi = ephemeralLow
		lo = max(1024, hi-12768)
	}
	return lo, hi
}

// FreeLoopbackAddr is a loopback address free now, its port picked below
// the kernel's ephemeral range (listenRange): unlike port 0's, no
// outbound connection can take it before the caller binds it.
// A port it returned is never returned again by this process: a caller
// that picks several before binding any gets different ones.
func FreeLoopbackAddr() (string, error) {
	lo, hi := listenRange()
	handedOut.Lock()
	defer handedOut.Unlock()
	for range 1000 {
		port := lo + rand.IntN(hi-lo)
		if !handedOut.ports[port] && portFree(port) {
			handedOut.ports[port] = true
			return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), nil
		}
	}
	return "", fmt.Errorf("no free loopback port found in %d-%d", lo, hi)
}

// handedOut are the ports FreeLoopbackAddr returned.
var handedOut = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

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
	lo, hi := listenRange()
	pick := func() (int, error) {
		for range 1000 {
			port := lo + rand.IntN(hi-lo)
			if !taken[port] && portFree(port) {
				taken[port] = true
				return port, nil
			}
		}
		return 0, fmt.Errorf("no free loopback port found in %d-%d", lo, hi)
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
