package frontdoor

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseConfig: no configuration file, however broken, panics the
// parser, and one it accepts is valid.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte("listen: 127.0.0.1:8080\nadminListen: 127.0.0.1:9090\nroutes:\n- host: shop.example.com\n  backends: [{name: blue, url: 'http://127.0.0.1:1', weight: 100}]\n"))
	f.Add([]byte("listen: a\nadminListen: 0.0.0.0:1\ntls: {certFile: x}\ntimeouts: {read: -1s}\n"))
	f.Add([]byte("routes: [{host: ../x, aliases: [''], backends: [{name: '', url: 'ftp://x', weight: 101}]}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig("fuzz.yaml", data)
		if err == nil {
			if verr := c.Validate(); verr != nil {
				t.Fatalf("accepted an invalid configuration: %v", verr)
			}
		}
	})
}

// FuzzStateFile: a state file of any content either loads routes that are
// all valid, or is refused as corrupt; it never panics the gateway.
func FuzzStateFile(f *testing.F) {
	f.Add([]byte(`[{"host":"shop.example.com","backends":[{"name":"blue","url":"http://127.0.0.1:1","weight":100}]}]`))
	f.Add([]byte(`null`))
	f.Add([]byte(`[{"host":"a","backends":[]},{"host":"a","backends":[]}]`))
	path := filepath.Join(f.TempDir(), "routes.json")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		routes, err := loadState(path)
		if err != nil {
			return
		}
		for _, r := range routes {
			if verr := r.Validate(); verr != nil {
				t.Fatalf("loaded an invalid route %+v: %v", r, verr)
			}
		}
	})
}
