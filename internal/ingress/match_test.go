package ingress

import (
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/utils/ptr"
)

func TestHostRank(t *testing.T) {
	for _, tc := range []struct {
		rule, host string
		want       int
	}{
		{"web.example.com", "web.example.com", 3},
		{"*.example.com", "web.example.com", 2},
		{"*.example.com", "a.b.example.com", 0},
		{"*.example.com", "example.com", 0},
		{"", "anything.example", 1},
		{"api.example.com", "web.example.com", 0},
	} {
		if got := hostRank(tc.rule, tc.host); got != tc.want {
			t.Errorf("hostRank(%q, %q) = %d, want %d", tc.rule, tc.host, got, tc.want)
		}
	}
}

func TestPathMatches(t *testing.T) {
	prefix, exact := ptr.To(networkingv1.PathTypePrefix), ptr.To(networkingv1.PathTypeExact)
	for _, tc := range []struct {
		path string
		typ  *networkingv1.PathType
		req  string
		want bool
	}{
		{"/", prefix, "/anything", true},
		{"/api", prefix, "/api", true},
		{"/api", prefix, "/api/v1", true},
		{"/api", prefix, "/apis", false},
		{"/api/", prefix, "/api", true},
		{"/api", exact, "/api", true},
		{"/api", exact, "/api/v1", false},
	} {
		if got := pathMatches(networkingv1.HTTPIngressPath{Path: tc.path, PathType: tc.typ}, tc.req); got != tc.want {
			t.Errorf("pathMatches(%q %v, %q) = %v, want %v", tc.path, *tc.typ, tc.req, got, tc.want)
		}
	}
}

func TestHostOnly(t *testing.T) {
	for in, want := range map[string]string{"web.example:8080": "web.example", "web.example": "web.example", "[::1]:80": "::1", "127.0.0.1:9": "127.0.0.1"} {
		if got := hostOnly(in); got != want {
			t.Errorf("hostOnly(%q) = %q, want %q", in, got, want)
		}
	}
}
