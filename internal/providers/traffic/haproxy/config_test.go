package haproxy

import (
	"strings"
	"testing"
)

func TestRewriteServersKeepsTheRest(t *testing.T) {
	conf := `global
	log stdout local0 # keep me

listen app
	bind :80
	server blue 10.0.0.1:80 check weight 1 inter 2s # blue's comment
	server old 10.0.0.9:80 disabled
	# trailing comment of app

backend empty
backend other
	server blue 10.0.0.1:80`
	got, err := rewriteServers(conf, map[string][]server{
		"app": {
			{Name: "blue", Addr: "10.0.0.1", Port: 80, Weight: 0},
			{Name: "green", Addr: "10.0.0.2", Port: 8080, Weight: 100},
		},
		"empty": {{Name: "g", Addr: "::1", Port: 81, Weight: 5, Admin: adminForcedMaint}},
	}, func(s server) string { return "server " + s.Name + " " + address(s) + " NEW" })
	if err != nil {
		t.Fatal(err)
	}
	want := `global
	log stdout local0 # keep me

listen app
	bind :80
	server blue 10.0.0.1:80 check inter 2s weight 0 # blue's comment
	server green 10.0.0.2:8080 NEW
	# trailing comment of app

backend empty
	server g [::1]:81 NEW
backend other
	server blue 10.0.0.1:80`
	if got != want {
		t.Fatalf("rewritten:\n%s\nwant:\n%s", got, want)
	}
	if _, err := rewriteServers(conf, map[string][]server{"missing": nil}, nil); err == nil || !strings.Contains(err.Error(), `no backend "missing"`) {
		t.Fatalf("a backend the configuration lacks: %v", err)
	}
	// A server line that goes into maintenance says so, and back.
	got, _ = rewriteServers(want, map[string][]server{"other": {{Name: "blue", Addr: "10.0.0.1", Port: 80, Weight: 3, Admin: adminForcedMaint}}}, nil)
	if !strings.HasSuffix(got, "\tserver blue 10.0.0.1:80 weight 3 disabled") {
		t.Fatalf("maintenance not written:\n%s", got)
	}
}
