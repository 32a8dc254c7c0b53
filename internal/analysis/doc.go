// Package analysis measures a canary: from a traffic provider's counters
// (requests, errors, latency histograms) it compares green with blue over
// a span of time — error ratio, and p95 latency relative to blue's — and
// says whether green passed, failed or had too little traffic to tell.
// It is pure arithmetic on counters, so its verdicts are table-tested.
package analysis
