// Package tail keeps the last bytes of a command's output: a chatty
// script's output never grows upshift's memory, and what a failure shows
// is what the script said last.
package tail
