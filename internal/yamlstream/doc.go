// Package yamlstream splits a YAML stream into its documents, skipping
// empty ones and ones holding only comments, and numbers them for errors.
package yamlstream
