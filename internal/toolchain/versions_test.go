package toolchain

import (
	"strings"
	"testing"
)

func TestResolveKubernetesVersion(t *testing.T) {
	lo, hi := Releases[0], Releases[len(Releases)-1]
	for _, tc := range []struct {
		in      string
		want    string
		errPart string
	}{
		{lo.Minor, lo.Version, ""},
		{"v" + lo.Minor, lo.Version, ""},
		{lo.Version, lo.Version, ""},
		{strings.TrimPrefix(hi.Version, "v"), hi.Version, ""},
		{"1.20", "", "not available locally"},
		{lo.Minor + ".999", "", "not available locally"},
		{"latest", "", "is not a version"},
		{"1.34.4.1", "", "is not a version"},
		{"", "", "is not a version"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			r, err := ResolveKubernetesVersion(tc.in)
			if tc.errPart != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errPart) || !strings.Contains(err.Error(), lo.Minor) {
					t.Fatalf("ResolveKubernetesVersion(%q) = %v, %v; want an error with %q listing the versions", tc.in, r, err, tc.errPart)
				}
				return
			}
			if err != nil || r.Version != tc.want {
				t.Fatalf("ResolveKubernetesVersion(%q) = %v, %v; want %s", tc.in, r, err, tc.want)
			}
		})
	}
}

func TestCacheKeysDiffer(t *testing.T) {
	seen := map[string]string{}
	for _, b := range All() {
		key, err := b.key()
		if err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if !strings.HasPrefix(key, b.Name+"-"+b.Version+"-") {
			t.Errorf("%s: key %s does not start with name and version", b, key)
		}
		if other, ok := seen[key]; ok {
			t.Errorf("%s and %s share cache key %s", b, other, key)
		}
		seen[key] = b.String()
		files, err := b.sources()
		if err != nil || len(files["go.mod"]) == 0 || len(files["go.sum"]) == 0 {
			t.Errorf("%s: sources incomplete: %v", b, err)
		}
		if strings.Contains(string(files["main.go"]), "go:build ignore") {
			t.Errorf("%s: main.go keeps its ignore tag", b)
		}
	}
}
