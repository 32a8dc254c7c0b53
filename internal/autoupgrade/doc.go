// Package autoupgrade decides what AutoUpgradeProfiles ask for: the
// version a channel offers a cluster (Stable, Rapid, Patch,
// TargetKubernetesVersion, as Azure Fleet and AKS document them) or the
// newest node image (NodeImage), and the update runs that bring the fleet
// there — one run per profile and target, named after both, so a
// scheduler that restarts never makes a second run for the same target.
// `upshift schedule` observes the providers and creates and drives the
// runs; this package only decides.
package autoupgrade
