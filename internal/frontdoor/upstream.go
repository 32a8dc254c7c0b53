package frontdoor

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// upstream is the connection pool of a plain-HTTP backend: HTTP/1.1 over
// kept-alive connections, each request written and its answer read on the
// goroutine that proxies it. net/http's Transport hands every request to
// two goroutines of its connection (its write and read loops) through
// channels; under a proxy's load those handoffs were a large share of the
// gateway's CPU (see BenchmarkGatewayVsHAProxy). Parsing and writing stay
// net/http's own (Request.Write, ReadResponse).
type upstream struct {
	addr          string // host:port
	dial          func(ctx context.Context, network, addr string) (net.Conn, error)
	headerTimeout time.Duration // to the end of the answer's headers
	idleTimeout   time.Duration // a connection unused longer is closed
	maxIdle       int

	mu   sync.Mutex
	idle []*upConn // most recently used last
}

type upConn struct {
	conn     net.Conn
	br       *bufio.Reader
	bw       *bufio.Writer
	lastUsed time.Time
}

// errStale is a kept-alive connection the backend had closed: nothing of
// the request reached it.
var errStale = errors.New("connection closed by the backend before it answered")

// RoundTrip sends one request and returns the answer, whose body gives
// the connection back when read to its end and closed.
func (u *upstream) RoundTrip(req *http.Request) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		c, reused, err := u.get(req.Context())
		if err != nil {
			return nil, err
		}
		resp, err := u.exchange(req, c)
		if err == nil {
			return resp, nil
		}
		_ = c.conn.Close()
		// A kept-alive connection can be closed by the backend as the
		// request goes out: send it once more on a new one, when it has
		// no body to replay.
		if errors.Is(err, errStale) && reused && attempt == 0 && (req.Body == nil || req.Body == http.NoBody) && req.Context().Err() == nil {
			continue
		}
		return nil, err
	}
}

func (u *upstream) get(ctx context.Context) (*upConn, bool, error) {
	now := time.Now()
	u.mu.Lock()
	for n := len(u.idle); n > 0; n = len(u.idle) {
		c := u.idle[n-1]
		u.idle = u.idle[:n-1]
		if now.Sub(c.lastUsed) < u.idleTimeout {
			u.mu.Unlock()
			return c, true, nil
		}
		_ = c.conn.Close()
	}
	u.mu.Unlock()
	conn, err := u.dial(ctx, "tcp", u.addr)
	if err != nil {
		return nil, false, err
	}
	return &upConn{conn: conn, br: bufio.NewReaderSize(conn, 4096), bw: bufio.NewWriterSize(conn, 4096)}, false, nil
}

func (u *upstream) put(c *upConn) {
	c.lastUsed = time.Now()
	u.mu.Lock()
	if len(u.idle) < u.maxIdle {
		u.idle = append(u.idle, c)
		c = nil
	}
	u.mu.Unlock()
	if c != nil {
		_ = c.conn.Close()
	}
}

// CloseIdleConnections closes the connections not in use.
func (u *upstream) CloseIdleConnections() {
	u.mu.Lock()
	idle := u.idle
	u.idle = nil
	u.mu.Unlock()
	for _, c := range idle {
		_ = c.conn.Close()
	}
}

// exchange writes req on c and reads the answer's headers.
func (u *upstream) exchange(req *http.Request, c *upConn) (*http.Response, error) {
	// A request its client gave up on ends its connection's I/O at once.
	stop := context.AfterFunc(req.Context(), func() { _ = c.conn.SetDeadline(time.Unix(1, 0)) })
	if u.headerTimeout > 0 {
		_ = c.conn.SetDeadline(time.Now().Add(u.headerTimeout))
	}
	if err := req.Write(c.bw); err != nil {
		stop()
		return nil, u.failed(req, err, "writing the request")
	}
	if err := c.bw.Flush(); err != nil {
		stop()
		return nil, u.failed(req, err, "writing the request")
	}
	resp, err := http.ReadResponse(c.br, req)
	if err != nil {
		stop()
		return nil, u.failed(req, err, "reading the answer")
	}
	if u.headerTimeout > 0 {
		_ = c.conn.SetDeadline(time.Time{})
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		// The connection now belongs to the upgraded protocol, which the
		// reverse proxy copies both ways.
		stop()
		resp.Body = &switched{c: c}
		return resp, nil
	}
	resp.Body = &upBody{body: resp.Body, c: c, u: u, stop: stop, keep: !resp.Close && !req.Close}
	return resp, nil
}

func (u *upstream) failed(req *http.Request, err error, doing string) error {
	if req.Context().Err() != nil {
		return req.Context().Err()
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) || isReset(err) {
		return fmt.Errorf("%s %s: %w", doing, u.addr, errStale)
	}
	return fmt.Errorf("%s %s: %w", doing, u.addr, err)
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && (op.Op == "read" || op.Op == "write") && !op.Timeout()
}

// upBody is an answer's body; read to its end and closed, it gives its
// connection back to the pool, else it closes it.
type upBody struct {
	body io.ReadCloser
	c    *upConn
	u    *upstream
	stop func() bool
	keep bool
	eof  bool
	done bool
}

func (b *upBody) Read(p []byte) (int, error) {
	n, err := b.body.Read(p)
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

func (b *upBody) Close() error {
	if b.done {
		return nil
	}
	b.done = true
	err := b.body.Close()
	cancelled := !b.stop() // the client went away: the deadline may be set
	if b.keep && b.eof && err == nil && !cancelled && b.c.br.Buffered() == 0 {
		b.u.put(b.c)
		return nil
	}
	_ = b.c.conn.Close()
	return err
}

// switched is an upgraded connection (101 Switching Protocols).
type switched struct{ c *upConn }

func (s *switched) Read(p []byte) (int, error)  { return s.c.br.Read(p) }
func (s *switched) Write(p []byte) (int, error) { return s.c.conn.Write(p) }
func (s *switched) Close() error                { return s.c.conn.Close() }
