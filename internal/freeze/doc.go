// Package freeze stops deployments to a cluster while a blue-green run
// copies its state to the new cluster: a ValidatingAdmissionPolicy and its
// binding deny creates, updates and deletes by the configured deployer
// identities, with a message naming the run; everyone else is unaffected.
// Both objects are named and labelled after the run, so a freeze is always
// traceable to the run that owns it, and lifting it deletes both.
package freeze
