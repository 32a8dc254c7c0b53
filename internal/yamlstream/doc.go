// Package yamlstream splits a YAML stream into its documents, skipping
// empty ones and ones holding only comments, and numbers them for errors.
// It also says where a user's file goes wrong, in the file's own lines:
// a version written as a bare number (Quoted), and an unknown field by its
// path with the known name closest to it (UnknownField).
package yamlstream
