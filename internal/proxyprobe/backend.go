package proxyprobe

import (
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Headers the probe and its backend speak.
const (
	// IDHeader names a request; the backend echoes it in EchoHeader and
	// in its answer's body.
	IDHeader   = "X-Probe-Id"
	EchoHeader = "X-Probe-Echo"
	// TrailerHeader is the trailer the backend sends on /trailers.
	TrailerHeader = "X-Probe-Trailer"
)

// Backend is the test backend. Its paths:
//
//	/echo        reads the body, answers "answer-for ID METHOD PATH body=N"
//	/noread      answers at once without reading the body
//	/status/N    answers with status N (204, 304, ...)
//	/hints       103 Early Hints, then the answer
//	/many1xx     102, 103 and 103, then the answer
//	/unsolicited a 100 Continue nobody asked for, then the answer
//	/chunked     the answer in three flushed pieces (chunked)
//	/trailers    a chunked answer with a trailer naming the request
//	/cut         headers promising 1000 bytes, 10 of them, then a close
//	/close       the answer with Connection: close
//	/big         a 1 MiB answer
//	/ws          a websocket upgrade echoing one line
type Backend struct {
	Addr     string
	srv      *http.Server
	requests atomic.Int64
}

// Requests is how many requests the backend has read.
func (b *Backend) Requests() int64 { return b.requests.Load() }

// StartBackend serves the backend on a loopback port until Close.
func StartBackend() (*Backend, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b := &Backend{Addr: ln.Addr().String()}
	b.srv = &http.Server{Handler: http.HandlerFunc(b.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = b.srv.Serve(ln) }()
	return b, nil
}

// Close stops the backend.
func (b *Backend) Close() error { return b.srv.Close() }

// Answer is the body the backend answers request id with.
func Answer(id, method, path string, bodyLen int) string {
	return fmt.Sprintf("answer-for %s %s %s body=%d\n", id, method, path, bodyLen)
}

func (b *Backend) serve(w http.ResponseWriter, r *http.Request) {
	b.requests.Add(1)
	id := r.Header.Get(IDHeader)
	h := w.Header()
	h.Set(EchoHeader, id)
	h.Set("Content-Type", "text/plain")
	answer := func(n int) {
		body := Answer(id, r.Method, r.URL.Path, n)
		h.Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = io.WriteString(w, body)
	}
	readBody := func() int {
		n, _ := io.Copy(io.Discard, r.Body)
		return int(n)
	}
	path := r.URL.Path
	switch {
	case path == "/echo", path == "/":
		answer(readBody())
	case path == "/noread":
		answer(0)
	case strings.HasPrefix(path, "/status/"):
		code, _ := strconv.Atoi(strings.TrimPrefix(path, "/status/"))
		readBody()
		if code == http.StatusNoContent || code == http.StatusNotModified {
			w.WriteHeader(code)
			return
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, Answer(id, r.Method, path, 0))
	case path == "/hints":
		h.Add("Link", "</style.css>; rel=preload; as=style")
		w.WriteHeader(http.StatusEarlyHints)
		h.Del("Link")
		answer(readBody())
	case path == "/many1xx":
		w.WriteHeader(http.StatusProcessing)
		h.Add("Link", "</a.js>; rel=preload; as=script")
		w.WriteHeader(http.StatusEarlyHints)
		w.WriteHeader(http.StatusEarlyHints)
		h.Del("Link")
		answer(readBody())
	case path == "/unsolicited":
		w.WriteHeader(http.StatusContinue)
		answer(readBody())
	case path == "/chunked":
		n := readBody()
		rc := http.NewResponseController(w)
		for i := range 3 {
			_, _ = fmt.Fprintf(w, "piece %d of ", i)
			_ = rc.Flush()
		}
		_, _ = io.WriteString(w, Answer(id, r.Method, path, n))
	case path == "/trailers":
		n := readBody()
		h.Set("Trailer", TrailerHeader)
		_ = http.NewResponseController(w).Flush()
		_, _ = io.WriteString(w, Answer(id, r.Method, path, n))
		h.Set(TrailerHeader, id)
	case path == "/cut":
		readBody()
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		_, _ = fmt.Fprintf(brw, "HTTP/1.1 200 OK\r\n%s: %s\r\nContent-Length: 1000\r\n\r\n0123456789", EchoHeader, id)
		_ = brw.Flush()
		_ = conn.Close()
	case path == "/close":
		h.Set("Connection", "close")
		answer(readBody())
	case path == "/big":
		readBody()
		body := strings.Repeat("x", 1<<20-len(id)-1) + id + "\n"
		h.Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = io.WriteString(w, body)
	case path == "/ws":
		b.websocket(w, r, id)
	default:
		http.NotFound(w, r)
	}
}

// websocket switches protocols and echoes one line, prefixed with the
// request's id.
func (b *Backend) websocket(w http.ResponseWriter, r *http.Request, id string) {
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		http.Error(w, "Upgrade: websocket expected", http.StatusBadRequest)
		return
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	sum := sha1.Sum([]byte(r.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	_, _ = fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s: %s\r\n\r\n",
		base64.StdEncoding.EncodeToString(sum[:]), EchoHeader, id)
	_ = brw.Flush()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	line, err := brw.ReadString('\n')
	if err != nil {
		return
	}
	_, _ = fmt.Fprintf(brw, "echo %s: %s", id, line)
	_ = brw.Flush()
	_, _ = brw.ReadByte() // until the client closes
}
