// Package exitcode defines, once, every exit code upshift returns, so a
// CI pipeline can branch on them; the README's tables list the same.
package exitcode
