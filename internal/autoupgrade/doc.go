// Package autoupgrade decides what AutoUpgradeProfiles ask for: the
// version a channel offers a cluster (Stable, Rapid, Patch,
// TargetKubernetesVersion, as Azure Fleet and AKS document them) or the
// newest node image (NodeImage), and the update runs that bring the fleet
// there — one run per profile and target, named after both, so a
// scheduler that restarts never makes a second run for the same target.
// Its Scheduler observes the providers each round, creates the runs the
// profiles want and drives them through what its caller hands it (the
// engine's Initialize, the CLI's drive): `upshift schedule` is its loop.
package autoupgrade
