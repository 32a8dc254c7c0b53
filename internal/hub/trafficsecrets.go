package hub

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/client-go/tools/clientcmd"

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
		// A kubeconfig file would be the pod's, and without one the pod's
		// own ServiceAccount would write the routes.
		switch ga := bg.Traffic.GatewayAPI; {
		case ga != nil && ga.Kubeconfig != "":
			out = append(out, "spec.blueGreen.traffic.gatewayAPI.kubeconfig is a file of the hub's pod: give kubeconfigSecretRef (a Secret labelled "+label+")")
		case ga == nil || ga.KubeconfigSecretRef == nil:
			out = append(out, "spec.blueGreen.traffic.gatewayAPI needs kubeconfigSecretRef on a hub (a Secret labelled "+label+"), or the hub's own identity would write the routes")
		}
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
	var kubeconfig string
	if ga := bg.Traffic.GatewayAPI; ga != nil && ga.KubeconfigSecretRef != nil {
		if kubeconfig, err = r.routesKubeconfig(ctx, run.Name, ga.KubeconfigSecretRef); err != nil {
			return nil, err
		}
	}
	if token == "" && key == "" && kubeconfig == "" {
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
			if ga := bg.Traffic.GatewayAPI; ga != nil && kubeconfig != "" {
				ga.Kubeconfig = kubeconfig
			}
		}
	}, nil
}

// routesKubeconfig writes the kubeconfig of the Gateway API routes'
// cluster, from the Secret the run names, to a private file. It must
// carry its credentials itself: a plugin would run a command in the hub,
// and a file it names would be one of the hub's pod (its own
// ServiceAccount token, sent to a server the kubeconfig names).
func (r *Reconciler) routesKubeconfig(ctx context.Context, run string, ref *v1alpha1.SecretKeyRef) (string, error) {
	const field = "spec.blueGreen.traffic.gatewayAPI.kubeconfigSecretRef"
	key := ref.Key
	if key == "" {
		key = "kubeconfig"
	}
	data, err := r.markedSecret(ctx, ref.Name, key, v1alpha1.LabelTrafficCredentials, "the kubeconfig of the Gateway API routes' cluster", "--from-file="+key+"=KUBECONFIG")
	if err != nil {
		return "", fmt.Errorf("%s %w", field, err)
	}
	kc, err := clientcmd.Load(data)
	if err != nil {
		return "", fmt.Errorf("%s: key %q of Secret %s is not a kubeconfig", field, key, ref.Name)
	}
	r.scrub.add(secretsOf(kc)...)
	if plugins := kubeconfigPlugins(kc); len(plugins) > 0 {
		return "", fmt.Errorf("%s: the kubeconfig of Secret %s: %w", field, ref.Name, execRefused(plugins))
	}
	if files := kubeconfigFiles(kc); len(files) > 0 {
		return "", fmt.Errorf("%s: the kubeconfig of Secret %s reads files of the hub's pod (%s): embed the data (token, client-certificate-data, certificate-authority-data)", field, ref.Name, strings.Join(files, ", "))
	}
	return r.privateFile(run, "gatewayapi.kubeconfig", data)
}
