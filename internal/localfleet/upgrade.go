package localfleet

import (
	"context"
	"fmt"

	"upshift.dev/upshift/internal/kubeversion"
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
	// Record the intent first: a process killed between stop and start
	// leaves a record that says which version to bring back.
	c.Phase = PhaseUpgrading
	c.KubernetesVersion = target.Version
	if err := c.save(); err != nil {
		return err
	}
	// Restart only what does not run the target yet: a retried upgrade
	// (the process was killed part-way) restarts nothing twice.
	pending := f.notRunning(c, controlPlane, bins["kube"])
	if len(pending) > 0 {
		f.progress("upgrading the control plane of %s to %s", name, target.Version)
	}
	if err := f.stop(c, pending); err != nil {
		return err
	}
	if err := f.start(ctx, c, bins, pending); err != nil {
		return fmt.Errorf("starting the %s control plane of %s: %w (etcd and its data are untouched; run the upgrade again)", target.Version, name, err)
	}
	c.Phase = PhaseRunning
	return c.save()
}

// notRunning returns the named components that are not alive on binary.
func (f *Fleet) notRunning(c *Cluster, names []string, binary string) []string {
	recs, _ := procs.LoadDir(c.path("pids"))
	var out []string
	for _, name := range names {
		if rec, ok := recs[name]; !ok || !rec.Alive() || rec.Path != binary {
			out = append(out, name)
		}
	}
	return out
}

// CheckUpgrade says whether a control plane may go from one version to
// another: only to the same or the next minor version.
func CheckUpgrade(from, to string) error {
	f, err := kubeversion.Parse(from)
	if err != nil {
		return err
	}
	t, err := kubeversion.Parse(to)
	if err != nil {
		return err
	}
	return kubeversion.CheckControlPlaneUpgrade(f, t)
}
