package proxyprobe

import (
	"fmt"
	"strings"
	"time"
)

// Exchange is one thing a client does on a connection: requests written
// raw, answers read back.
type Exchange struct {
	Name string
	Run  func(p *Probe, c *Conn) []Result
}

// Matrix is every exchange the differential test runs.
func Matrix() []Exchange {
	return []Exchange{
		{"get", one("GET", "/echo", "")},
		{"post", sized("POST", "/echo", strings.Repeat("p", 5000))},
		{"expect-100-wait", expectWait("/echo", 4096)},
		{"expect-100-eager", sized("POST", "/echo", strings.Repeat("e", 4096), "Expect: 100-continue")},
		{"expect-100-backend-does-not-read", expectWait("/noread", 4096)},
		{"expect-100-1MiB", expectWait("/echo", 1<<20)},
		{"pipelined-gets", pipelined("GET /echo", "GET /echo", "GET /echo")},
		{"pipelined-post-get", pipelined("POST /echo", "GET /echo")},
		{"pipelined-head-204-post-get", pipelined("HEAD /echo", "GET /status/204", "POST /echo", "GET /echo")},
		{"head-then-get", sequence("HEAD /echo", "GET /echo")},
		{"head-chunked-then-get", sequence("HEAD /chunked", "GET /echo")},
		{"204-then-get", sequence("GET /status/204", "GET /echo")},
		{"304-then-get", func(p *Probe, c *Conn) []Result {
			id, next := p.id(), p.id()
			c.write(p.head("GET", "/status/304", id, `If-None-Match: "v1"`))
			out := []Result{p.read(c, "GET", id)}
			c.write(p.head("GET", "/echo", next))
			return append(out, p.read(c, "GET", next))
		}},
		{"103-early-hints", sequence("GET /hints", "GET /echo")},
		{"102-103-103", sequence("GET /many1xx", "GET /echo")},
		{"unsolicited-100", sequence("POST /unsolicited", "GET /echo")},
		{"chunked-request", one("POST", "/echo", chunked([]string{"abc", strings.Repeat("d", 3000), "e"}), "Transfer-Encoding: chunked")},
		{"chunked-request-trailers", one("POST", "/echo", chunked([]string{"abc", "def"}, "X-Checksum: 42"), "Transfer-Encoding: chunked", "Trailer: X-Checksum")},
		{"chunked-response", sequence("GET /chunked", "GET /echo")},
		{"chunked-response-trailers", one("GET", "/trailers", "", "TE: trailers")},
		{"client-aborts-mid-body", func(p *Probe, c *Conn) []Result {
			id := p.id()
			req := p.head("POST", "/echo", id, "Content-Length: 10000") + strings.Repeat("a", 100)
			c.write(req)
			time.Sleep(50 * time.Millisecond)
			_ = c.Close()
			c.Dead = true
			return []Result{{ID: id, Note: "aborted by the client"}}
		}},
		{"backend-cuts-mid-answer", one("GET", "/cut", "")},
		{"oversize-header", one("GET", "/echo", "", "X-Big: "+strings.Repeat("b", 100<<10))},
		{"8KiB-header", one("GET", "/echo", "", "X-Big: "+strings.Repeat("b", 8<<10))},
		{"slow-headers", func(p *Probe, c *Conn) []Result {
			id := p.id()
			req := p.head("GET", "/echo", id)
			for i := 0; i < len(req); i += len(req)/8 + 1 {
				c.write(req[i:min(i+len(req)/8+1, len(req))])
				time.Sleep(30 * time.Millisecond)
			}
			return []Result{p.read(c, "GET", id)}
		}},
		{"cl-te-smuggling", smuggle("Content-Length: %d", "Transfer-Encoding: chunked")},
		{"te-cl-smuggling", smuggle("Transfer-Encoding: chunked", "Content-Length: %d")},
		{"duplicate-content-length", one("POST", "/echo", "hello", "Content-Length: 5", "Content-Length: 5")},
		{"conflicting-content-length", one("POST", "/echo", "hello!", "Content-Length: 5", "Content-Length: 6")},
		{"obs-fold", one("GET", "/echo", "", "X-Folded: first", " second")},
		{"bad-chunk-size", one("POST", "/echo", "zz\r\nhello\r\n0\r\n\r\n", "Transfer-Encoding: chunked")},
		{"space-before-colon", one("POST", "/echo", "hello", "Transfer-Encoding : chunked", "Content-Length: 5")},
		{"websocket-upgrade", func(p *Probe, c *Conn) []Result {
			id := p.id()
			c.write(p.head("GET", "/ws", id, "Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="))
			r := p.read(c, "GET", id)
			defer func() { c.Dead = true }() // the connection is the websocket's now
			if r.Status != 101 {
				return []Result{r}
			}
			c.write("ping\n")
			_ = c.SetReadDeadline(time.Now().Add(p.timeout()))
			line, err := c.br.ReadString('\n')
			switch {
			case err != nil:
				r.Note = "no-echo"
			case line != fmt.Sprintf("echo %s: ping\n", id):
				r.Wrong = fmt.Sprintf("the upgraded stream answered %q", line)
			}
			return []Result{r}
		}},
		{"connection-close", func(p *Probe, c *Conn) []Result {
			id := p.id()
			c.write(p.head("GET", "/echo", id, "Connection: close"))
			r := p.read(c, "GET", id)
			c.Dead = true
			return []Result{r}
		}},
		{"backend-closes-then-get", sequence("GET /close", "GET /echo")},
		{"http-1.0", func(p *Probe, c *Conn) []Result {
			id := p.id()
			c.write(fmt.Sprintf("GET /echo HTTP/1.0\r\nHost: %s\r\n%s: %s\r\n\r\n", p.Host, IDHeader, id))
			r := p.read(c, "GET", id)
			c.Dead = true // HTTP/1.0 without keep-alive: the proxy closes
			return []Result{r}
		}},
		{"1MiB-answer", sequence("GET /big", "GET /echo")},
		{"backend-answers-before-body", sized("POST", "/noread", strings.Repeat("n", 256<<10))},
	}
}

// one is a single request: its head with the given headers, then body
// as written (no Content-Length added), and its answer.
func one(method, target, body string, headers ...string) func(p *Probe, c *Conn) []Result {
	return func(p *Probe, c *Conn) []Result {
		id := p.id()
		c.write(p.head(method, target, id, headers...) + body)
		return []Result{p.read(c, method, id)}
	}
}

// sized is one whose body gets its Content-Length.
func sized(method, target, body string, headers ...string) func(p *Probe, c *Conn) []Result {
	return func(p *Probe, c *Conn) []Result {
		id := p.id()
		c.write(p.withBody(method, target, id, body, headers...))
		return []Result{p.read(c, method, id)}
	}
}

// request builds "METHOD /path" with a small body for POST.
func (p *Probe) request(spec, id string) (string, string) {
	method, target, _ := strings.Cut(spec, " ")
	if method == "POST" {
		return method, p.withBody(method, target, id, strings.Repeat("b", 1000))
	}
	return method, p.head(method, target, id)
}

// pipelined writes every request at once, then reads the answers in order.
func pipelined(specs ...string) func(p *Probe, c *Conn) []Result {
	return func(p *Probe, c *Conn) []Result {
		var all strings.Builder
		var ids, methods []string
		for _, s := range specs {
			id := p.id()
			m, req := p.request(s, id)
			all.WriteString(req)
			ids, methods = append(ids, id), append(methods, m)
		}
		c.write(all.String())
		var out []Result
		for i := range ids {
			out = append(out, p.read(c, methods[i], ids[i]))
		}
		return out
	}
}

// sequence sends each request once the one before is answered.
func sequence(specs ...string) func(p *Probe, c *Conn) []Result {
	return func(p *Probe, c *Conn) []Result {
		var out []Result
		for _, s := range specs {
			id := p.id()
			m, req := p.request(s, id)
			c.write(req)
			out = append(out, p.read(c, m, id))
		}
		return out
	}
}

// expectWait sends a request with Expect: 100-continue and its body only
// after a 100 Continue, or after a second without an answer (as curl
// does). A final answer before the body ends the exchange, and the
// connection: what the proxy would make of the unsent body is unknown.
func expectWait(target string, size int) func(p *Probe, c *Conn) []Result {
	return func(p *Probe, c *Conn) []Result {
		id := p.id()
		c.write(p.head("POST", target, id, "Expect: 100-continue", fmt.Sprintf("Content-Length: %d", size)))
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		first, err := c.br.Peek(12)
		if err == nil && !strings.HasPrefix(string(first), "HTTP/1.1 100") {
			r := p.read(c, "POST", id) // the final answer, before the body
			c.Dead = true
			return []Result{r}
		}
		var interim []int
		if err == nil { // 100 Continue: read it, send the body
			interim = p.readInterim(c)
		}
		c.write(strings.Repeat("x", size))
		r := p.read(c, "POST", id)
		r.Interim = append(interim, r.Interim...)
		return []Result{r}
	}
}

// readInterim reads one 100 Continue.
func (p *Probe) readInterim(c *Conn) []int {
	_ = c.SetReadDeadline(time.Now().Add(p.timeout()))
	for {
		line, err := c.br.ReadString('\n')
		if err != nil {
			c.Dead = true
			return nil
		}
		if line == "\r\n" {
			return []int{100}
		}
	}
}

// smuggle sends a request with both Content-Length and
// Transfer-Encoding whose body ends a chunked message and then holds a
// second request. Whatever a proxy makes of it, the second request's
// answer (if any) must name it, and the next client's must name its own.
func smuggle(first, second string) func(p *Probe, c *Conn) []Result {
	return func(p *Probe, c *Conn) []Result {
		id, inner := p.id(), p.id()
		body := "0\r\n\r\n" + p.head("GET", "/echo", inner)
		h := []string{first, second}
		for i := range h {
			if strings.Contains(h[i], "%d") {
				h[i] = fmt.Sprintf(h[i], len(body))
			}
		}
		c.write(p.head("POST", "/echo", id, h...) + body)
		out := []Result{p.read(c, "POST", id)}
		if !c.Dead {
			r := (&Probe{Timeout: 2 * time.Second}).read(c, "GET", inner)
			if r.Status == 0 {
				r.Note = "no second answer"
				c.Dead = true
			}
			out = append(out, r)
		}
		return out
	}
}
