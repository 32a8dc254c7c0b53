// Package window computes maintenance windows: when, by a schedule in the
// shape of AKS maintenance configurations (daily, weekly, absolute or
// relative monthly; a start time, a duration of 4 to 24 hours, a UTC
// offset or an IANA zone; blackout dates), an upgrade step may start. It
// knows no clock of its own: callers pass the time, so tests and the engine
// can inject theirs.
package window
