// Package cmdkit is what every upshift binary's commands share: the
// streams they write to, the Complete/Validate/Run shape and its cobra
// glue, the errors that pick an exit code (bad input, a code of the
// command's own), and the mapping from a command's error to the process
// exit code. It is small on purpose: the scan-only binary links it
// without the rest of upshift.
package cmdkit
