package localfleet

import (
	"context"
	"fmt"

	"upshift.dev/upshift/internal/procs"
	"upshift.dev/upshift/internal/toolchain"
)

// UpgradeControlPlane restarts the API server, controller manager and
// scheduler of a cluster on the next minor version's binaries, against the
// same etcd, so every object survives. It refuses to skip a minor version
// or to go back. Upgrading to the version the cluster runs is a no-op, so a
// retried upgrade does not restart anything twice.
func (f *Fleet) UpgradeControlPlane(ctx context.Context, name, version string) error {
	target, err := toolchain.ResolveKubernetesVersion(version)
	if err != nil {
		return err
	}
	c, err := f.Get(name)
	if err != nil {
		return err
	}
	if err := CheckUpgrade(c.KubernetesVersion, target.Version); err != nil {
		return fmt.Errorf("local cluster %s: %w", name, err)
	}
	if c.KubernetesVersion == target.Version && c.Phase != PhaseUpgrading {
		return nil
	}
	bins, err := f.binaries(ctx, target)
	if err != nil {
		return err
	}
	unlock, err := f.lockCluster(name)
	if err != nil {
		return err
	}
	defer unlock()
	// A process killed after the new control plane started, before it
	// recorded so: finish the record, restart nothing.
	if c.Phase == PhaseUpgrading && c.KubernetesVersion == target.Version && f.runs(c, controlPlane, bins["kube"]) {
		c.Phase = PhaseRunning
		return c.save()
	}
	// Record the intent first: a process killed between stop and start
	// leaves a record that says which version to bring back.
	c.Phase = PhaseUpgrading
	c.KubernetesVersion = target.Version
	if err := c.save(); err != nil {
		return err
	}
	f.progress("upgrading the control plane of %s to %s", name, target.Version)
	if err := f.stop(c, controlPlane); err != nil {
		return err
	}
	if err := f.start(ctx, c, bins, controlPlane); err != nil {
		return fmt.Errorf("starting the %s control plane of %s: %w (etcd and its data are untouched; run the upgrade again)", target.Version, name, err)
	}
	c.Phase = PhaseRunning
	return c.save()
}

// runs reports whether every named component is alive on the binary.
func (f *Fleet) runs(c *Cluster, names []string, binary string) bool {
	recs, err := procs.LoadDir(c.path("pids"))
	if err != nil {
		return false
	}
	for _, name := range names {
		rec, ok := recs[name]
		if !ok || !rec.Alive() || rec.Path != binary {
			return false
		}
	}
	return true
}

// CheckUpgrade says whether a control plane may go from one version to
// another: only to the same or the next minor version.
func CheckUpgrade(from, to string) error {
	fromMinor, err := toolchain.MinorOf(from)
	if err != nil {
		return err
	}
	toMinor, err := toolchain.MinorOf(to)
	if err != nil {
		return err
	}
	switch {
	case toMinor < fromMinor:
		return fmt.Errorf("cannot downgrade the control plane from %s to %s: Kubernetes does not support it; use a blue-green upgrade to move back", from, to)
	case toMinor > fromMinor+1:
		return fmt.Errorf("cannot upgrade the control plane from %s to %s: Kubernetes upgrades one minor version at a time; upgrade to 1.%d first", from, to, fromMinor+1)
	}
	return nil
}
