// Package cli holds upshift's cobra commands. Each command is an options
// struct with Complete, Validate and Run (the command interface, wired by
// runE): Validate refuses bad input with exit 2 before anything is
// touched, and Run calls a capability package. Output goes through injected
// streams so tests capture it. Data goes to stdout, people's lines to
// stderr.
package cli
