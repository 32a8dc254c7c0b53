// Package printer is how the CLI talks to people: one short line per
// action, wait, success or failure, on stderr, so that stdout stays for
// data (-o json). Colours and symbols only when the stream is a terminal.
package printer
