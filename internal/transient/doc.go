// Package transient tells a passing fault from a real failure: an API
// server or a provider that refuses or resets connections, times out,
// answers 429 or 5xx, or drops a connection mid-answer is briefly away —
// as a managed control plane is during its own upgrade — and the step that
// met it is worth doing again (every step is idempotent). Everything else
// (validation, forbidden, not found, a failing gate) fails at once.
package transient
