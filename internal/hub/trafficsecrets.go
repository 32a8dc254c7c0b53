package hub

import (
	"context"
	"fmt"
	"strings"

	"upshift.dev/upshift/api/v1alpha1"
)

// podFiles lists what in a run's spec would read a file of the hub's pod.
// A hub refuses each: a run could name the pod's own ServiceAccount token
// as the gateway's admin token and send it to an address the run names. A
// traffic credential comes from a labelled Secret instead; a manifests
// folder (mounted with extraVolumes) only with --allow-exec.
func podFiles(spec *v1alpha1.UpdateRunSpec, allowExec bool) []string {
	bg := spec.BlueGreen
	if bg == nil {
		return nil
	}
	var out []string
	label := v1alpha1.LabelTrafficCredentials + "=true"
	if g := bg.Traffic.Gateway; g != nil && g.TokenFile != "" {
		out = append(out, "spec.blueGreen.traffic.gateway.tokenFile reads a file of the hub's pod: give tokenSecretRef (a Secret labelled "+label+")")
	}
	if d := bg.Traffic.DNS; d != nil && d.KeySecretFile != "" {
		out = append(out, "spec.blueGreen.traffic.dns.keySecretFile reads a file of the hub's pod: give keySecretRef (a Secret labelled "+label+")")
	}
	if h := bg.Traffic.HAProxy; h != nil {
		if h.ConfigFile != "" {
			out = append(out, "spec.blueGreen.traffic.haproxy.configFile is a file of the hub's pod: leave it out, and keep HAProxy's weights across reloads with its server-state-file")
		}
		if strings.HasPrefix(h.RuntimeAPI, "/") || strings.HasPrefix(h.RuntimeAPI, "unix@") {
			out = append(out, "spec.blueGreen.traffic.haproxy.runtimeAPI is a socket of the hub's pod: give HAProxy's runtime API as host:port (stats socket ipv4@ADDR:PORT level admin)")
		}
	}
	if bg.Traffic.Provider == v1alpha1.TrafficGatewayAPI || bg.Traffic.GatewayAPI != nil {
		// Its kubeconfig would be a file of the pod, and without one the
		// pod's own ServiceAccount would write the routes.
		out = append(out, "spec.blueGreen.traffic.gatewayAPI reaches its cluster with a kubeconfig file or the pod's own identity: a hub does not run provider gatewayapi yet; run the move from the CLI")
	}
	if bg.Sync.Manifests != "" && !allowExec {
		out = append(out, "spec.blueGreen.sync.manifests reads a folder of the hub's pod: allowed only on a hub started with --allow-exec")
	}
	return out
}

// podFilesRefused is the error of a run that names files of the pod.
func podFilesRefused(paths []string) error {
	return fmt.Errorf("a hub reads no files of its pod for a run: %s", strings.Join(paths, "; "))
}

// trafficSecrets reads the run's traffic credentials from the Secrets it
// names (labelled upshift.dev/traffic-credentials=true) into private
// files under the credentials folder, and returns what points a copy of
// the run at those files: the engine's copy alone carries the paths, and
// what the Secrets hold is scrubbed from status writes.
func (r *Reconciler) trafficSecrets(ctx context.Context, run *v1alpha1.UpdateRun) (func(*v1alpha1.UpdateRun), error) {
	bg := run.Spec.BlueGreen
	if bg == nil {
		return nil, nil
	}
	read := func(field string, ref *v1alpha1.SecretKeyRef, defaultKey, what string) (string, error) {
		key := ref.Key
		if key == "" {
			key = defaultKey
		}
		data, err := r.markedSecret(ctx, ref.Name, key, v1alpha1.LabelTrafficCredentials, what, "--from-file="+key+"=FILE")
		if err != nil {
			return "", fmt.Errorf("spec.blueGreen.traffic.%s %w", field, err)
		}
		r.scrub.add(strings.TrimSpace(string(data)))
		return r.privateFile(run.Name, strings.ReplaceAll(field, ".", "-"), data)
	}
	var token, key string
	var err error
	if g := bg.Traffic.Gateway; g != nil && g.TokenSecretRef != nil {
		if token, err = read("gateway.tokenSecretRef", g.TokenSecretRef, "token", "the gateway's admin token"); err != nil {
			return nil, err
		}
	}
	if d := bg.Traffic.DNS; d != nil && d.KeySecretRef != nil {
		if key, err = read("dns.keySecretRef", d.KeySecretRef, "secret", "the TSIG key's base64 secret"); err != nil {
			return nil, err
		}
	}
	if token == "" && key == "" {
		return nil, nil
	}
	return func(run *v1alpha1.UpdateRun) {
		if bg := run.Spec.BlueGreen; bg != nil {
			if g := bg.Traffic.Gateway; g != nil && token != "" {
				g.TokenFile = token
			}
			if d := bg.Traffic.DNS; d != nil && key != "" {
				d.KeySecretFile = key
			}
		}
	}, nil
}
