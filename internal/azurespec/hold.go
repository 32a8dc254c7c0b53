package azurespec

import (
	"net/http"
	"strings"
	"testing"
)

// Hold puts a Checker in front of next for the length of a test: when
// the test ends, every request and answer that broke Azure's published
// contract fails it, one line each.
func Hold(tb testing.TB, next http.Handler) *Checker {
	tb.Helper()
	c, err := NewChecker(next)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if len(c.Seen()) == 0 && !tb.Failed() {
			tb.Errorf("no request of Azure's published contracts went through the checker: it checked nothing")
		}
		if p := c.Problems(); len(p) > 0 {
			tb.Errorf("%d requests or answers broke Azure's published contract:\n%s", len(p), strings.Join(p, "\n"))
		}
	})
	return c
}
