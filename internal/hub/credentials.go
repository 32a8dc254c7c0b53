package hub

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/atomicfile"
)

// withCredentials returns the clusters with the kubeconfig of each that
// names a Secret (spec.kubeconfigSecretRef) read from the hub and written
// to a private file under dir, which spec.kubeconfig then names, and an
// exec cluster's variables from Secrets (spec.exec.envSecretRefs) in its
// env. Only
// the engine's copy carries the path; the Secret's content goes nowhere
// else, and errors name the Secret and key, never what they hold.
//
// Only Secrets labelled upshift.dev/member-credentials=true are read, so
// a Cluster cannot name any other Secret of the namespace; a kubeconfig
// whose users run plugins is refused unless the hub allows exec; and what
// the kubeconfig holds that is secret is scrubbed from status writes.
func (r *Reconciler) withCredentials(ctx context.Context, run string, clusters []v1alpha1.Cluster) ([]v1alpha1.Cluster, error) {
	out := make([]v1alpha1.Cluster, len(clusters))
	for i, cl := range clusters {
		out[i] = *cl.DeepCopy()
		if err := r.memberKubeconfig(ctx, run, &out[i]); err != nil {
			return nil, err
		}
		if err := r.execEnv(ctx, &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// memberKubeconfig writes the kubeconfig a cluster's
// spec.kubeconfigSecretRef names to a private file, which the engine's
// copy's spec.kubeconfig then names.
func (r *Reconciler) memberKubeconfig(ctx context.Context, run string, cl *v1alpha1.Cluster) error {
	ref := cl.Spec.KubeconfigSecretRef
	if ref == nil {
		return nil
	}
	key := ref.Key
	if key == "" {
		key = "kubeconfig"
	}
	data, err := r.markedSecret(ctx, ref.Name, key, v1alpha1.LabelMemberCredentials, "this member's kubeconfig", "--from-file="+key+"=KUBECONFIG")
	if err != nil {
		return fmt.Errorf("cluster %s: spec.kubeconfigSecretRef %w", cl.Name, err)
	}
	kc, err := clientcmd.Load(data)
	if err != nil {
		return fmt.Errorf("cluster %s: key %q of Secret %s is not a kubeconfig", cl.Name, key, ref.Name)
	}
	r.scrub.add(secretsOf(kc)...)
	if plugins := kubeconfigPlugins(kc); len(plugins) > 0 && !r.Options.AllowExec {
		return fmt.Errorf("cluster %s: the kubeconfig of Secret %s: %w", cl.Name, ref.Name, execRefused(plugins))
	}
	// A file it names would be one of the hub's pod: its own ServiceAccount
	// token, sent to the server the kubeconfig names.
	if files := kubeconfigFiles(kc); len(files) > 0 && !r.Options.AllowExec {
		return fmt.Errorf("cluster %s: the kubeconfig of Secret %s reads files of the hub's pod (%s): embed the data (token, client-certificate-data, certificate-authority-data), or start the hub with --allow-exec if the files are mounted for it", cl.Name, ref.Name, strings.Join(files, ", "))
	}
	path, err := r.privateFile(run, cl.Name+".kubeconfig", data)
	if err != nil {
		return err
	}
	cl.Spec.Kubeconfig = path
	return nil
}

// privateFile writes what a run's Secret holds to a 0600 file of the
// run's folder under the credentials folder, for the engine's copy of the
// run or fleet to name, and returns its path.
func (r *Reconciler) privateFile(run, name string, data []byte) (string, error) {
	path := filepath.Join(r.Options.CredentialsDir, run, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}
	return path, atomicfile.Write(path, data, 0o600)
}

// execEnv puts the values of an exec cluster's envSecretRefs into the
// engine's copy of its env, scrubbed from every write; runs.SaveFleet
// keeps them out of the frozen fleet.
func (r *Reconciler) execEnv(ctx context.Context, cl *v1alpha1.Cluster) error {
	e := cl.Spec.Exec
	if e == nil || len(e.EnvSecretRefs) == 0 {
		return nil
	}
	if e.Env == nil {
		e.Env = map[string]string{}
	}
	for name, ref := range e.EnvSecretRefs {
		key := ref.Key
		if key == "" {
			key = name
		}
		data, err := r.markedSecret(ctx, ref.Name, key, v1alpha1.LabelMemberCredentials, "the value of "+name, "--from-literal="+key+"=VALUE")
		if err != nil {
			return fmt.Errorf("cluster %s: spec.exec.envSecretRefs.%s %w", cl.Name, name, err)
		}
		value := strings.TrimRight(string(data), "\n")
		r.scrub.add(value)
		e.Env[name] = value
	}
	return nil
}

// markedSecret reads key of a Secret of the hub's namespace that carries
// label=true: the only Secrets the hub reads for what runs and clusters
// name, so that naming a Secret is not a way to read any other. Its
// errors ("names Secret S, which …") name the Secret, never what it
// holds; what says what the Secret should hold, create how `kubectl create
// secret generic` makes it.
func (r *Reconciler) markedSecret(ctx context.Context, name, key, label, what, create string) ([]byte, error) {
	ns := r.Options.Namespace
	secret := &corev1.Secret{}
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, secret); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("names Secret %s, which namespace %s does not hold: create it (kubectl -n %s create secret generic %s %s)", name, ns, ns, name, create)
		}
		return nil, fmt.Errorf("names Secret %s, which cannot be read: %w", name, err)
	}
	if secret.Labels[label] != "true" {
		return nil, fmt.Errorf("names Secret %s, which is not marked for upshift: label it (kubectl -n %s label secret %s %s=true) if it holds %s", name, ns, name, label, what)
	}
	data := secret.Data[key]
	if len(data) == 0 {
		return nil, fmt.Errorf("names Secret %s, which has no key %q: put %s there", name, key, what)
	}
	return data, nil
}
