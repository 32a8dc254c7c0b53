// Package architecture is upshift's package map: every package of the
// module in one of a few layers, from the leaves (API types, helpers) up
// to the commands. A package imports only packages of its own layer or
// below; the test over `go list` fails on an import that runs back up,
// and on a package that is not on the map, so a new package is placed on
// purpose.
package architecture
