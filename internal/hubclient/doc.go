// Package hubclient is how a command reaches a hub: it connects to the
// hub's API server and checks that it serves upshift's API, and it turns a
// run's status, read again and again, into the events its driver would
// have printed, so a command can follow a run the hub drives as if it
// drove it itself.
package hubclient
