// Package registry is the one name → implementation table behind upshift's
// choices by name: methods, planners, cluster providers and traffic
// providers. Entries are added by internal/builtin's explicit list; a name
// registered twice is a programming error and panics.
package registry
