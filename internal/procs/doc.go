// Package procs starts long-lived processes that outlive the command that
// started them (the local fleet's control planes), records each in a small
// file, and stops them again. A record holds the process's start time as
// well as its pid, so a recycled pid is never mistaken for ours.
package procs
