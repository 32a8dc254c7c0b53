package registry_test

import (
	"strings"
	"testing"

	"upshift.dev/upshift/internal/registry"
)

func TestRegistry(t *testing.T) {
	r := registry.New[int]("widget")
	r.Register("b", 2)
	r.Register("a", 1)
	if v, ok := r.Get("b"); !ok || v != 2 {
		t.Errorf("Get(b) = %d, %v", v, ok)
	}
	if _, ok := r.Get("c"); ok {
		t.Error("Get(c) found an entry")
	}
	if got := strings.Join(r.Names(), ","); got != "a,b" {
		t.Errorf("Names = %s, want a,b", got)
	}
	defer func() {
		if p := recover(); p == nil || !strings.Contains(p.(string), "widget a registered twice") {
			t.Errorf("a second registration: %v", p)
		}
	}()
	r.Register("a", 3)
}
