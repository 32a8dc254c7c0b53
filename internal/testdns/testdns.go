package testdns

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// StartBIND runs a real BIND 9 primary for zone example.test on a
// loopback port, accepting updates signed with key "upshift-key" and the
// returned secret. aks.example.test starts as A 127.0.0.10 with the TTL
// given; BIND stops when the test ends.
func StartBIND(t testing.TB, ttl int) (addr, secret string) {
	t.Helper()
	named, err := exec.LookPath("named")
	if err != nil {
		named = "/usr/sbin/named"
		if _, err := os.Stat(named); err != nil {
			t.Fatal("BIND 9 is not installed: run `make deps` (apt-get install bind9)")
		}
	}
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	secret = base64.StdEncoding.EncodeToString(key)
	conf := fmt.Sprintf(`options {
	directory "%[1]s";
	listen-on port %[2]d { 127.0.0.1; };
	listen-on-v6 { none; };
	pid-file "%[1]s/named.pid";
	recursion no;
	dnssec-validation no;
};
controls { };
key "upshift-key" { algorithm hmac-sha256; secret "%[3]s"; };
zone "example.test" { type primary; file "%[1]s/db.example.test"; allow-update { key "upshift-key"; }; };
`, dir, port, secret)
	zone := fmt.Sprintf(`$TTL %d
@    IN SOA ns.example.test. admin.example.test. 1 3600 600 86400 300
@    IN NS  ns.example.test.
ns   IN A   127.0.0.1
aks  IN A   127.0.0.10
`, ttl)
	if err := os.WriteFile(filepath.Join(dir, "named.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "db.example.test"), []byte(zone), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(named, "-g", "-c", filepath.Join(dir, "named.conf"), "-n", "1")
	logf, _ := os.Create(filepath.Join(dir, "named.log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); logf.Close() })
	addr = fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return addr, secret
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "named.log"))
			t.Fatalf("BIND did not start: %s", log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
