package frontdoor_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"upshift.dev/upshift/internal/frontdoor"
	"upshift.dev/upshift/internal/testfleet"
)

// TestUpstreamConnections covers how the gateway reaches a plain-HTTP
// backend: connections are kept and reused; one the backend closed while
// idle is replaced without failing the request; a request its client
// abandons ends at the backend too and its connection is not reused; an
// upgraded connection (101) is copied both ways.
func TestUpstreamConnections(t *testing.T) {
	var conns atomic.Int64
	var cancelled atomic.Int64
	backend := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/slow":
			select {
			case <-r.Context().Done():
				cancelled.Add(1)
			case <-time.After(10 * time.Second):
			}
		case "/echo":
			if r.Header.Get("Upgrade") != "echo" {
				http.Error(w, "upgrade: echo expected", http.StatusBadRequest)
				return
			}
			conn, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			defer conn.Close()
			_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
			_ = brw.Flush()
			line, _ := brw.ReadString('\n')
			_, _ = brw.WriteString("echo: " + line)
			_ = brw.Flush()
		default:
			_, _ = io.WriteString(w, "hello")
		}
	}))
	backend.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	backend.Config.IdleTimeout = 300 * time.Millisecond
	backend.Start()
	defer backend.Close()
	cfg := frontdoor.Config{Listen: testfleet.LoopbackAddr(t), AdminListen: testfleet.LoopbackAddr(t), HealthInterval: frontdoor.Duration{Duration: time.Hour},
		Routes: []frontdoor.Route{{Host: host, Backends: []frontdoor.Backend{{Name: "b", URL: backend.URL, Weight: 100}}}}}
	runGateway(t, cfg)
	front := "http://" + cfg.Listen
	waitAnswer(t, front)

	get := func(path string, timeout time.Duration) (int, error) {
		req, _ := http.NewRequest(http.MethodGet, front+path, nil)
		req.Host = host
		resp, err := (&http.Client{Timeout: timeout}).Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}
	before := conns.Load()
	for range 200 {
		if code, err := get("/", 5*time.Second); err != nil || code != http.StatusOK {
			t.Fatalf("GET: %d, %v", code, err)
		}
	}
	if n := conns.Load() - before; n > 2 {
		t.Errorf("200 sequential requests opened %d backend connections, want them kept alive (at most 2)", n)
	}

	// The backend closes the idle connection; the next request still
	// succeeds, on a new one.
	time.Sleep(600 * time.Millisecond)
	before = conns.Load()
	if code, err := get("/", 5*time.Second); err != nil || code != http.StatusOK {
		t.Fatalf("GET after the backend closed the idle connection: %d, %v", code, err)
	}
	if conns.Load() == before {
		t.Error("the request after the idle close did not open a new connection")
	}

	// A client that gives up: the backend's request is cancelled.
	if _, err := get("/slow", 200*time.Millisecond); err == nil {
		t.Fatal("the slow request did not time out at the client")
	}
	for deadline := time.Now().Add(5 * time.Second); cancelled.Load() == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the backend's request went on after its client gave up")
		}
	}
	if code, err := get("/", 5*time.Second); err != nil || code != http.StatusOK {
		t.Fatalf("GET after an abandoned request: %d, %v", code, err)
	}

	// An upgrade: bytes go both ways once the backend switched protocols.
	conn, err := net.Dial("tcp", cfg.Listen)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.WriteString(conn, "GET /echo HTTP/1.1\r\nHost: "+host+"\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v, %v", resp, err)
	}
	_, _ = io.WriteString(conn, "ping\n")
	line, err := br.ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "echo: ping" {
		t.Fatalf("after the upgrade: %q, %v", line, err)
	}
}
