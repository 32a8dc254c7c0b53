package frontdoor_test

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"regexp"
	"testing"
	"time"

	"upshift.dev/upshift/internal/frontdoor"
	"upshift.dev/upshift/internal/proxyprobe"
	"upshift.dev/upshift/internal/testfleet"
)

// idLine is a client's own id header, which the fuzzer may not forge:
// the ids are the harness's.
var idLine = regexp.MustCompile(`(?i)x-probe-id`)

// FuzzGatewayRequest writes any bytes to the gateway as a client's
// connection, then asks as the next client. Whatever the first client
// sent (broken framing, smuggling attempts, cut bodies, upgrades), the
// next client gets its own answer, and no answer of the next client's
// reaches the first.
func FuzzGatewayRequest(f *testing.F) {
	for _, seed := range []string{
		"GET /echo HTTP/1.1\r\nHost: web.example\r\n\r\n",
		"POST /echo HTTP/1.1\r\nHost: web.example\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello",
		"POST /noread HTTP/1.1\r\nHost: web.example\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n",
		"POST /echo HTTP/1.1\r\nHost: web.example\r\nContent-Length: 30\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /echo HTTP/1.1\r\nHost: web.example\r\n\r\n",
		"POST /echo HTTP/1.1\r\nHost: web.example\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n",
		"HEAD /chunked HTTP/1.1\r\nHost: web.example\r\n\r\nGET /hints HTTP/1.1\r\nHost: web.example\r\n\r\n",
		"GET /unsolicited HTTP/1.1\r\nHost: web.example\r\n\r\nGET /cut HTTP/1.1\r\nHost: web.example\r\n\r\n",
		"GET /ws HTTP/1.1\r\nHost: web.example\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: x\r\n\r\nping\n",
		"POST /echo HTTP/1.1\r\nHost: web.example\r\nContent-Length: 100\r\n\r\nshort",
		"GET /echo HTTP/1.1\r\nHost: web.example\r\nX-A: a\r\n b\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
	} {
		f.Add([]byte(seed))
	}
	backend, err := proxyprobe.StartBackend()
	if err != nil {
		f.Fatal(err)
	}
	defer backend.Close()
	cfg := frontdoor.Config{Listen: testfleet.LoopbackAddr(f), AdminListen: testfleet.LoopbackAddr(f), HealthInterval: frontdoor.Duration{Duration: time.Hour},
		Routes: []frontdoor.Route{{Host: host, Backends: []frontdoor.Backend{{Name: "only", URL: "http://" + backend.Addr, Weight: 100}}}}}
	_, stop := testfleet.StartGateway(f, cfg, token)
	defer stop()
	next := &proxyprobe.Probe{Addr: cfg.Listen, Host: host, Prefix: "next-"}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		c, err := net.Dial("tcp", cfg.Listen)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			f.Fatalf("the gateway does not listen: %v", err)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		data = idLine.ReplaceAll(data, []byte("x-fuzzed"))
		c, err := net.Dial("tcp", cfg.Listen)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(100 * time.Millisecond))
		_, _ = c.Write(data)
		// The next client asks while the first one's bytes are in flight.
		done := make(chan proxyprobe.Outcome, 1)
		errc := make(chan error, 1)
		go func() {
			o, err := next.Run(proxyprobe.Exchange{Name: "next", Run: func(*proxyprobe.Probe, *proxyprobe.Conn) []proxyprobe.Result { return nil }})
			done <- o
			errc <- err
		}()
		var got bytes.Buffer
		_, _ = io.Copy(&got, bufio.NewReader(c))
		o := <-done
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		if !o.NextServed() || len(o.Crossed()) > 0 {
			t.Fatalf("after %q, the next client got %v (%+v), not its own 200", data, o.New, o.New)
		}
		if bytes.Contains(got.Bytes(), []byte("answer-for next-")) {
			t.Fatalf("the fuzzed client got an answer of the next client's:\n%s", got.Bytes())
		}
	})
}
