// Package filelock takes exclusive advisory locks on files (flock), so that
// several upshift processes on one machine do not build the same binary or
// change the same state at once. A lock dies with its process.
package filelock
