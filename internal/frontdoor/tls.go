package frontdoor

import (
	"crypto/tls"
	"errors"
	"fmt"
	"sync/atomic"
)

// certificate is a listener's certificate, swapped whole on a reload so
// that a handshake sees the old pair or the new one.
type certificate struct {
	files TLSFiles
	pair  atomic.Pointer[tls.Certificate]
}

func loadCertificate(name string, f *TLSFiles) (*certificate, error) {
	if f == nil {
		return nil, nil
	}
	c := &certificate{files: *f}
	if err := c.reload(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return c, nil
}

// reload reads the files again; on an error the old pair stays in use.
func (c *certificate) reload() error {
	pair, err := tls.LoadX509KeyPair(c.files.CertFile, c.files.KeyFile)
	if err != nil {
		return fmt.Errorf("loading certificate %s and key %s: %w", c.files.CertFile, c.files.KeyFile, err)
	}
	c.pair.Store(&pair)
	return nil
}

func (c *certificate) config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"h2", "http/1.1"},
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return c.pair.Load(), nil
		},
	}
}

// ReloadTLS reads both listeners' certificates and keys again (the CLI
// calls it on SIGHUP). A pair that fails to load is reported and the one
// in use is kept, so a half-copied renewal never takes a listener down.
func (g *Gateway) ReloadTLS() error {
	var errs []error
	for _, c := range []*certificate{g.frontCert, g.adminCert} {
		if c == nil {
			continue
		}
		if err := c.reload(); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("reloading TLS (the certificates in use are kept): %w", errors.Join(errs...))
	}
	return nil
}
