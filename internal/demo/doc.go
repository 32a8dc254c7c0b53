// Package demo is `upshift demo` (make demo): a local dev/test/prod fleet
// upgraded in place under live traffic, patched for a critical CVE, a
// cluster moved blue-green and another by canary. It plays what a person
// would type through the commands' own code (CLI), so that what it shows
// is what the commands do.
package demo
