// Package testdns runs a real BIND 9 for tests of DNS traffic switching:
// a primary on a loopback port with a zone that takes TSIG-signed dynamic
// updates. `make deps` installs BIND (Debian's bind9).
package testdns
