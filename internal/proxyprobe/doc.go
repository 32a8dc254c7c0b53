// Package proxyprobe checks an HTTP/1.1 reverse proxy answer by answer:
// a test backend that names, in every answer, the request it answers (an
// id header echoed), and a matrix of exchanges written raw to the proxy
// (Expect, pipelining, HEAD, 1xx, chunked bodies and trailers, aborts,
// smuggling attempts, upgrades) whose answers are read back and checked
// to name their own request. Tests run the same exchanges through
// upshift's gateway and through HAProxy and compare the two; no answer
// may ever go to another request.
package proxyprobe
