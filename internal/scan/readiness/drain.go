package readiness

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"upshift.dev/upshift/internal/scan/report"
)

// The checks in this file come from what kubectl drain (and upshift's drain,
// the same k8s.io/kubectl/pkg/drain helper) does with each pod on a node, and
// from where a pod's data lives:
//
//   - it waits for pods that are already terminating (skipDeletedFilter, no
//     timeout by default), so a pod held by a finalizer holds the drain;
//   - it waits each pod's own termination grace period (GracePeriodSeconds
//     -1), under a drain timeout (30 minutes in upshift and in AKS);
//   - it leaves mirror pods (mirrorPodFilter): a static pod stays on its
//     node and is gone with it;
//   - a pod whose volume lives on one node (a local or hostPath
//     PersistentVolume, or node affinity to one host) cannot start
//     anywhere else, and its data goes with the node.
//
// The other filters are covered elsewhere: pods without a controller
// (unreplicatedFilter) by naked-pod, emptyDir (localStorageFilter) by
// local-data.

// DrainTimeout is how long upshift (and AKS, by default) lets one node's
// drain take.
const DrainTimeout = 30 * time.Minute

// longGrace is the grace period above which a drain visibly slows.
const longGrace = 5 * time.Minute

// stuckAfter is how long past its deletion deadline a pod without
// finalizers may linger (its kubelet confirming) before it counts as stuck.
const stuckAfter = time.Minute

// checkStuckTerminating finds pods that should be gone: a drain evicts them
// (the API accepts it at once) and then waits for them to disappear, so
// their node's drain never ends.
func checkStuckTerminating(inv *Inventory) []report.Finding {
	var out []report.Finding
	for i := range inv.Pods {
		p := &inv.Pods[i]
		if p.DeletionTimestamp == nil || p.Spec.NodeName == "" {
			continue
		}
		late := inv.now().Sub(p.DeletionTimestamp.Time) // the deadline already includes the grace period
		switch {
		case late > 0 && len(p.Finalizers) > 0:
			out = append(out, finding(report.SeverityError, "Pod", p.Namespace, p.Name,
				fmt.Sprintf("it has been terminating for %s past its grace period, held by finalizer(s) %s: a drain of node %s waits for it to go and never ends", late.Round(time.Second), strings.Join(p.Finalizers, ", "), p.Spec.NodeName),
				"make the controller that owns the finalizer finish (or remove the finalizer if that controller is gone)"))
		case late > stuckAfter:
			out = append(out, finding(report.SeverityError, "Pod", p.Namespace, p.Name,
				fmt.Sprintf("it has been terminating for %s past its grace period and node %s has not confirmed it stopped: a drain of that node waits for it and never ends", late.Round(time.Second), p.Spec.NodeName),
				"check the node's kubelet; if the node is gone, delete the pod with --grace-period=0 --force"))
		}
	}
	sortFindings(out)
	return out
}

// checkLongGrace finds workloads whose pods may take longer to stop than a
// drain waits, or long enough to stretch every drain.
func checkLongGrace(inv *Inventory) []report.Finding {
	var out []report.Finding
	for _, w := range inv.workloads() {
		g := w.template.Spec.TerminationGracePeriodSeconds
		if g == nil {
			continue
		}
		grace := time.Duration(*g) * time.Second
		switch {
		case grace >= DrainTimeout:
			out = append(out, finding(report.SeverityError, w.kind, w.namespace, w.name,
				fmt.Sprintf("terminationGracePeriodSeconds is %d: a drain gives up after %s (upshift's and AKS's default) while its pods may still be stopping, so the upgrade fails", *g, DrainTimeout),
				fmt.Sprintf("stop within less than %s (lower terminationGracePeriodSeconds), or raise the run's nodeUpgrade.drainTimeout above it", DrainTimeout)))
		case grace > longGrace:
			out = append(out, finding(report.SeverityWarning, w.kind, w.namespace, w.name,
				fmt.Sprintf("terminationGracePeriodSeconds is %d: every drain of a node running it may wait that long", *g),
				"make the pods stop faster, and plan the upgrade's maintenance window for it"))
		}
	}
	return out
}

// checkStaticPods finds static pods (seen through their mirror pods): drains
// leave them, and they are gone when their node is replaced unless the new
// node image carries their manifest.
func checkStaticPods(inv *Inventory) []report.Finding {
	var out []report.Finding
	for i := range inv.Pods {
		p := &inv.Pods[i]
		if _, ok := p.Annotations[corev1.MirrorPodAnnotationKey]; !ok {
			continue
		}
		out = append(out, finding(report.SeverityWarning, "Pod", p.Namespace, p.Name,
			fmt.Sprintf("a static pod of node %s's kubelet: drains leave it running, and it is gone when the upgrade replaces the node unless the new node image carries its manifest", p.Spec.NodeName),
			"run it as a DaemonSet or Deployment, or put its manifest in the node image"))
	}
	sortFindings(out)
	return out
}

// checkNodeLocalVolumes finds pods whose PersistentVolume lives on one node:
// once drained, the replacement cannot be scheduled anywhere else (the
// scheduler: "didn't match PersistentVolume's node affinity"), and the data
// is lost when the node is replaced.
func checkNodeLocalVolumes(inv *Inventory) []report.Finding {
	claims := map[string]*corev1.PersistentVolumeClaim{}
	for i := range inv.PVCs {
		claims[inv.PVCs[i].Namespace+"/"+inv.PVCs[i].Name] = &inv.PVCs[i]
	}
	volumes := map[string]*corev1.PersistentVolume{}
	for i := range inv.PVs {
		volumes[inv.PVs[i].Name] = &inv.PVs[i]
	}
	var out []report.Finding
	for i := range inv.Pods {
		p := &inv.Pods[i]
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		for _, v := range p.Spec.Volumes {
			if v.PersistentVolumeClaim == nil {
				continue
			}
			pvc := claims[p.Namespace+"/"+v.PersistentVolumeClaim.ClaimName]
			if pvc == nil || pvc.Spec.VolumeName == "" {
				continue
			}
			pv := volumes[pvc.Spec.VolumeName]
			if pv == nil {
				continue
			}
			if where := nodeLocal(pv); where != "" {
				out = append(out, finding(report.SeverityError, "Pod", p.Namespace, p.Name,
					fmt.Sprintf("volume %s (claim %s) is PersistentVolume %s, %s: once drained, its replacement can start on no other node, and the data is lost when the upgrade replaces the node", v.Name, pvc.Name, pv.Name, where),
					"move the data to network-attached storage (a zonal or regional StorageClass), or replicate it in the application and let the replacement start empty"))
			}
		}
	}
	sortFindings(out)
	return out
}

// nodeLocal says where a volume is bound to one node, or "".
func nodeLocal(pv *corev1.PersistentVolume) string {
	switch {
	case pv.Spec.Local != nil:
		return fmt.Sprintf("a local volume at %s%s", pv.Spec.Local.Path, onHosts(pv))
	case pv.Spec.HostPath != nil:
		return fmt.Sprintf("a hostPath volume at %s%s", pv.Spec.HostPath.Path, onHosts(pv))
	}
	if h := onHosts(pv); h != "" {
		return "bound" + h
	}
	return ""
}

// onHosts is " on node X" when the volume's node affinity admits only
// named hosts.
func onHosts(pv *corev1.PersistentVolume) string {
	if pv.Spec.NodeAffinity == nil || pv.Spec.NodeAffinity.Required == nil {
		return ""
	}
	if h := hostsOf(pv.Spec.NodeAffinity.Required.NodeSelectorTerms); h != "" {
		return " on node " + h
	}
	return ""
}
