package hub

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/atomicfile"
)

// withCredentials returns the clusters with the kubeconfig of each that
// names a Secret (spec.kubeconfigSecretRef) read from the hub and written
// to a private file under dir, which spec.kubeconfig then names. Only
// the engine's copy carries the path; the Secret's content goes nowhere
// else, and errors name the Secret and key, never what they hold.
func withCredentials(ctx context.Context, c client.Reader, namespace, dir, run string, clusters []v1alpha1.Cluster) ([]v1alpha1.Cluster, error) {
	out := make([]v1alpha1.Cluster, len(clusters))
	for i, cl := range clusters {
		out[i] = *cl.DeepCopy()
		ref := cl.Spec.KubeconfigSecretRef
		if ref == nil {
			continue
		}
		key := ref.Key
		if key == "" {
			key = "kubeconfig"
		}
		secret := &corev1.Secret{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: ref.Name}, secret); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, fmt.Errorf("cluster %s: spec.kubeconfigSecretRef names Secret %s, which namespace %s does not hold: create it (kubectl -n %s create secret generic %s --from-file=%s=KUBECONFIG)", cl.Name, ref.Name, namespace, namespace, ref.Name, key)
			}
			return nil, fmt.Errorf("cluster %s: reading Secret %s: %w", cl.Name, ref.Name, err)
		}
		data := secret.Data[key]
		if len(data) == 0 {
			return nil, fmt.Errorf("cluster %s: Secret %s has no key %q holding a kubeconfig", cl.Name, ref.Name, key)
		}
		if _, err := clientcmd.Load(data); err != nil {
			return nil, fmt.Errorf("cluster %s: key %q of Secret %s is not a kubeconfig", cl.Name, key, ref.Name)
		}
		path := filepath.Join(dir, run, cl.Name+".kubeconfig")
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, err
		}
		if err := atomicfile.Write(path, data, 0o600); err != nil {
			return nil, err
		}
		out[i].Spec.Kubeconfig = path
	}
	return out, nil
}
