// Package gctune sets Go's garbage collector for short commands whose live
// heap is small, such as a scan: Go's 4 MiB minimum heap goal makes them
// collect dozens of times for nothing. Collecting on a memory limit instead
// makes them faster and no larger; once the live heap outgrows the limit's
// share, GOGC=100 comes back so the collector never thrashes against it.
package gctune
