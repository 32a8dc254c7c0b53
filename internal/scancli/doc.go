// Package scancli holds the scan commands (scan apis, scan readiness):
// their flags, sources and reports. upshift offers them as `upshift scan`,
// with fleet files resolved through its providers; upshift-scan is them
// alone, a small binary for CI pipelines that links none of the rest.
package scancli
