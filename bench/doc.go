// Package bench holds upshift's benchmarks against the local fleet. They
// report the figures the README quotes; run them with `make bench`.
package bench
