// Package haproxy is the traffic provider for an HAProxy the user already
// runs: each switched name is an HAProxy backend and each cluster a
// server of it, weighted and added or removed through HAProxy's runtime
// API (the stats socket at level admin; HAProxy 2.6 or later for add and
// del server). Lowered servers keep their connections until they finish,
// so a switch drains rather than cuts. The runtime API does not persist:
// the provider also rewrites the changed backends' server lines in the
// configuration file the user names, so a reload keeps the switch.
//
// The runtime API is a line of text per command over a socket; the
// provider speaks it itself rather than linking haproxytech/client-native,
// which brings the whole Data Plane API model for the five commands used.
package haproxy
