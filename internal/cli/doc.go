// Package cli holds upshift's cobra commands. Each command is an options
// struct with Complete, Validate and Run; output goes through injected
// streams so tests capture it. Data goes to stdout, people's lines to
// stderr.
package cli
