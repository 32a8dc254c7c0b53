// Package builtin registers everything upshift ships that is chosen by
// name — upgrade methods, cluster providers, traffic providers — in one
// explicit list (no init() registrations). Adding a method or a provider is
// its own package plus one line here; the engine and the planner do not
// change. The CLI calls Register once at start, tests in TestMain.
package builtin
