package proxyprobe

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// Probe writes exchanges to one proxy.
type Probe struct {
	Addr string // the proxy's address
	Host string // the Host header of every request
	// Timeout bounds each wait for an answer (default 5 s).
	Timeout time.Duration
	// Prefix starts every request id, so that the ids of two probes
	// never meet.
	Prefix string
	seq    atomic.Int64
}

// Conn is a client connection to the proxy.
type Conn struct {
	net.Conn
	br *bufio.Reader
	// Dead is set once the connection cannot carry another request: it
	// was closed, cut, or left in a state a client cannot know.
	Dead bool
}

// Dial opens a client connection.
func (p *Probe) Dial() (*Conn, error) {
	c, err := net.DialTimeout("tcp", p.Addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return &Conn{Conn: c, br: bufio.NewReaderSize(c, 64<<10)}, nil
}

func (p *Probe) id() string {
	return fmt.Sprintf("%s%d", p.Prefix, p.seq.Add(1))
}

func (p *Probe) timeout() time.Duration {
	if p.Timeout > 0 {
		return p.Timeout
	}
	return 5 * time.Second
}

// Result is what one request got back.
type Result struct {
	ID      string // the request's id
	Status  int    // the final status; 0 when none came
	Interim []int  // 1xx answers before it
	Echo    string // the id the backend echoed; "" when the proxy answered itself
	// Wrong says how the answer belongs to another request ("" when it
	// does not): another id echoed in the headers, the body or the
	// trailers.
	Wrong string
	Note  string // "truncated", "no-echo" (an upgraded stream that did not answer); set only with a status
}

// Crossed is an answer that went to the wrong request.
func (r Result) Crossed() bool { return r.Wrong != "" }

// String is the result as the differential test compares it: the final
// status, or what came instead.
func (r Result) String() string {
	if r.Status == 0 {
		return "none"
	}
	s := strconv.Itoa(r.Status)
	if r.Note != "" {
		s += "-" + r.Note
	}
	return s
}

// write sends raw bytes; a failure marks the connection dead.
func (c *Conn) write(s string) bool {
	if c.Dead {
		return false
	}
	_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, s); err != nil {
		c.Dead = true
		return false
	}
	return true
}

// read reads the answer to the request id (sent with method), through
// any 1xx, and checks that it names id.
func (p *Probe) read(c *Conn, method, id string) Result {
	r := Result{ID: id}
	if c.Dead {
		r.Note = "not sent"
		return r
	}
	_ = c.SetReadDeadline(time.Now().Add(p.timeout()))
	for {
		resp, err := http.ReadResponse(c.br, &http.Request{Method: method})
		if err != nil {
			c.Dead = true
			r.Note = "no answer: " + brief(err)
			return r
		}
		if resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
			r.Interim = append(r.Interim, resp.StatusCode)
			continue
		}
		r.Status, r.Echo = resp.StatusCode, resp.Header.Get(EchoHeader)
		if r.Echo != "" && r.Echo != id {
			r.Wrong = fmt.Sprintf("headers name %s", r.Echo)
		}
		if resp.StatusCode == http.StatusSwitchingProtocols {
			return r
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			c.Dead = true
			r.Note = "truncated"
		}
		if other := bodyID(string(body)); other != "" && other != id && r.Wrong == "" {
			r.Wrong = fmt.Sprintf("body names %s", other)
		}
		if tr := resp.Trailer.Get(TrailerHeader); tr != "" && tr != id && r.Wrong == "" {
			r.Wrong = fmt.Sprintf("trailer names %s", tr)
		}
		if resp.Close {
			c.Dead = true
		}
		return r
	}
}

// bodyID is the request id an answer's body names, if it names one.
func bodyID(body string) string {
	if i := strings.Index(body, "answer-for "); i >= 0 {
		if f := strings.Fields(body[i:]); len(f) > 1 {
			return f[1]
		}
	}
	if strings.HasPrefix(body, "xxxxxxxx") { // /big ends with its id
		return strings.TrimLeft(strings.TrimSpace(body), "x")
	}
	return ""
}

func brief(err error) string {
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "closed"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "timed out"
	case errors.Is(err, syscall.ECONNRESET):
		return "reset"
	}
	return err.Error()
}

// head is a request's head: its line, Host, id and the given headers.
func (p *Probe) head(method, target, id string, headers ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n%s: %s\r\n", method, target, p.Host, IDHeader, id)
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

// withBody is a request with a Content-Length body.
func (p *Probe) withBody(method, target, id, body string, headers ...string) string {
	return p.head(method, target, id, append(headers, "Content-Length: "+strconv.Itoa(len(body)))...) + body
}

// chunked encodes pieces as a chunked body with the given trailers.
func chunked(pieces []string, trailers ...string) string {
	var b strings.Builder
	for _, s := range pieces {
		fmt.Fprintf(&b, "%x\r\n%s\r\n", len(s), s)
	}
	b.WriteString("0\r\n")
	for _, t := range trailers {
		b.WriteString(t + "\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

// Outcome is what an exchange's requests got, and the follow-ups: a
// request on the same connection (when it is still usable) and one on
// a new connection, each of which must get its own answer.
type Outcome struct {
	Exchange string
	Results  []Result
	// Same is the follow-up on the exchange's connection; New on a new
	// one (the next client).
	Same, New Result
}

// Summary is the outcome as the differential test compares it: the
// statuses of the exchange's requests, each after its 1xx answers
// ("103+200"). A 100 Continue repeated is one: a proxy whose own 100
// went out before the backend's (a backend slower than the proxy's wait)
// sends both, which a client must take as it takes one.
func (o Outcome) Summary() string {
	var parts []string
	for _, r := range o.Results {
		var codes []string
		for i, c := range r.Interim {
			if c == http.StatusContinue && i > 0 && r.Interim[i-1] == c {
				continue
			}
			codes = append(codes, strconv.Itoa(c))
		}
		parts = append(parts, strings.Join(append(codes, r.String()), "+"))
	}
	return strings.Join(parts, ",")
}

// NextServed is whether the next client got its own answer: a 200 from
// the backend naming its request.
func (o Outcome) NextServed() bool { return o.New.Status == http.StatusOK && o.New.Echo == o.New.ID }

// Crossed lists every answer that named another request.
func (o Outcome) Crossed() []string {
	var out []string
	for _, r := range append(append([]Result(nil), o.Results...), o.Same, o.New) {
		if r.Crossed() {
			out = append(out, fmt.Sprintf("%s: request %s got an answer whose %s", o.Exchange, r.ID, r.Wrong))
		}
	}
	return out
}

// Run runs one exchange on a new connection, then its follow-ups.
func (p *Probe) Run(ex Exchange) (Outcome, error) {
	c, err := p.Dial()
	if err != nil {
		return Outcome{}, err
	}
	defer c.Close()
	out := Outcome{Exchange: ex.Name, Results: ex.Run(p, c)}
	if !c.Dead {
		id := p.id()
		c.write(p.head("GET", "/echo", id))
		out.Same = p.read(c, "GET", id)
	}
	next, err := p.Dial()
	if err != nil {
		return out, err
	}
	defer next.Close()
	id := p.id()
	next.write(p.head("GET", "/echo", id))
	out.New = p.read(next, "GET", id)
	return out, nil
}
