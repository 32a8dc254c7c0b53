package azurespec

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
)

// Checker is an http.Handler in front of another (the Azure emulator):
// it holds every request and every answer that pass through it to the
// published contracts, and keeps what broke them. Requests outside every
// contract's namespace pass unchecked; the URLs of long-running
// operations that an answer handed out are followed as ARM's
// asynchronous protocol says.
type Checker struct {
	Contracts []*Contract
	Next      http.Handler

	mu       sync.Mutex
	problems []string       // each once, in the order met
	count    map[string]int // by problem
	seen     map[string]int // operationId → requests
	async    map[string]string
}

// NewChecker checks next against every contract of All.
func NewChecker(next http.Handler) (*Checker, error) {
	all, err := All()
	if err != nil {
		return nil, err
	}
	return &Checker{Contracts: all, Next: next}, nil
}

// Problems are what broke the contract so far, one line each, naming the
// request and the facts' source, with how often it was met.
func (c *Checker) Problems() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := slices.Clone(c.problems)
	for i, p := range out {
		if n := c.count[p]; n > 1 {
			out[i] = fmt.Sprintf("%s (%d times)", p, n)
		}
	}
	return out
}

// Seen is how many requests each operation got.
func (c *Checker) Seen() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.seen)
}

func (c *Checker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	rec := &recorder{ResponseWriter: w, status: http.StatusOK}
	c.Next.ServeHTTP(rec, r)
	c.check(r, body, rec)
}

func (c *Checker) check(r *http.Request, body []byte, rec *recorder) {
	what := r.Method + " " + r.URL.Path
	c.mu.Lock()
	kind, followed := c.async[strings.ToLower(r.URL.Path)]
	c.mu.Unlock()
	if followed {
		c.report(what, "ARM's asynchronous operation protocol", checkAsync(kind, rec.status, rec.body.Bytes()))
		return
	}
	for _, contract := range c.Contracts {
		if !contract.covers(r.URL.Path) {
			continue
		}
		op, params := contract.Match(r.Method, r.URL.Path)
		if op == nil {
			c.report(what, contract.Repository+" "+contract.Folder+contract.Spec, []string{"no operation of the published contract (api-version " + contract.APIVersion + ") is this method and path"})
			return
		}
		c.mu.Lock()
		if c.seen == nil {
			c.seen = map[string]int{}
		}
		c.seen[op.OperationID]++
		c.mu.Unlock()
		var problems []string
		for _, p := range contract.CheckRequest(op, params, r.URL.Query(), body) {
			problems = append(problems, "request: "+p)
		}
		for _, p := range contract.CheckAnswer(op, rec.status, rec.Header(), rec.body.Bytes()) {
			problems = append(problems, fmt.Sprintf("answer %d: %s", rec.status, p))
		}
		c.report(what+" ("+op.OperationID+")", contract.Source(op), problems)
		c.follow(rec.Header())
		return
	}
}

// follow keeps the operation URLs an answer hands out: clients poll them
// as given.
func (c *Checker) follow(h http.Header) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.async == nil {
		c.async = map[string]string{}
	}
	for _, name := range []string{"Azure-AsyncOperation", "Location"} {
		if u, err := url.Parse(h.Get(name)); err == nil && u.Path != "" {
			c.async[strings.ToLower(u.Path)] = name
		}
	}
}

// checkAsync holds a poll of an operation URL to ARM's asynchronous
// protocol, as the Azure SDK's pollers read it: an Azure-AsyncOperation
// resource answers 200 with a status; a Location URL answers 202 while
// the operation runs, then 200 or 204.
func checkAsync(kind string, status int, body []byte) []string {
	if status >= 400 {
		return checkError(status, body)
	}
	if kind == "Location" {
		if !slices.Contains([]int{http.StatusOK, http.StatusAccepted, http.StatusNoContent}, status) {
			return []string{fmt.Sprintf("a Location poll answered %d: 202 while under way, 200 or 204 when done", status)}
		}
		return nil
	}
	if status != http.StatusOK {
		return []string{fmt.Sprintf("an Azure-AsyncOperation poll answered %d, not 200", status)}
	}
	if !bytes.Contains(body, []byte(`"status"`)) {
		return []string{"an Azure-AsyncOperation resource without its status"}
	}
	return nil
}

func (c *Checker) report(what, source string, problems []string) {
	if len(problems) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.count == nil {
		c.count = map[string]int{}
	}
	for _, p := range problems {
		line := fmt.Sprintf("%s: %s (facts: %s)", what, p, source)
		if c.count[line]++; c.count[line] == 1 {
			c.problems = append(c.problems, line)
		}
	}
}

// recorder passes an answer through and keeps a copy.
type recorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (r *recorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(p []byte) (int, error) {
	r.body.Write(p)
	return r.ResponseWriter.Write(p)
}

func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
