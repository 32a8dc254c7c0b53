package names_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"upshift.dev/upshift/internal/names"
)

func TestRules(t *testing.T) {
	bad := []string{"", ".", "..", "../x", "../../x", "a/b", "/abs", "Prod", "a_b", "-a", "a-", "a b", "x\x00", strings.Repeat("a", 64)}
	for _, n := range bad {
		if err := names.Label("local cluster", n); err == nil {
			t.Errorf("Label(%q) passed", n)
		} else if !names.IsInvalid(fmt.Errorf("wrapped: %w", err)) {
			t.Errorf("Label(%q): %v is not recognised as an invalid name", n, err)
		}
	}
	for _, n := range []string{"", ".", "..", "../x", "a/b", "a..b", ".a", "A.b"} {
		if names.Subdomain("run", n) == nil {
			t.Errorf("Subdomain(%q) passed", n)
		}
		if names.Host("route host", n) == nil {
			t.Errorf("Host(%q) passed", n)
		}
	}
	for _, n := range []string{"prod", "prod-eu-1", "a", "0", strings.Repeat("a", 63)} {
		if err := names.Label("local cluster", n); err != nil {
			t.Errorf("Label(%q): %v", n, err)
		}
	}
	for _, n := range []string{"upgrade-1.35", "shop.example.com", "run-20261123"} {
		if err := names.Subdomain("run", n); err != nil {
			t.Errorf("Subdomain(%q): %v", n, err)
		}
	}
	err := names.Label("local cluster", "..")
	if !strings.Contains(err.Error(), `local cluster name ".."`) {
		t.Errorf("error does not name the kind and the name: %v", err)
	}
	if names.IsInvalid(errors.New("local cluster name")) {
		t.Error("a plain error counted as an invalid name")
	}
}
