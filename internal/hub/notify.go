package hub

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"upshift.dev/upshift/api/v1alpha1"
)

// withSinkURLs returns a copy of the run whose notification sinks carry
// their URLs: a urlSecretRef is read from a Secret of the namespace
// labelled upshift.dev/notification-url=true, and its value is scrubbed
// from status writes. A urlFile is refused: it would read a file of the
// hub's pod.
func (r *Reconciler) withSinkURLs(ctx context.Context, run *v1alpha1.UpdateRun) (*v1alpha1.UpdateRun, error) {
	out := run.DeepCopy()
	for i := range out.Spec.Notifications {
		s := &out.Spec.Notifications[i]
		if s.URLFile != "" {
			return nil, fmt.Errorf("spec.notifications[%d] (%s): a hub reads no files of its pod: give urlSecretRef (a Secret labelled %s=true) or url", i, s.Name, v1alpha1.LabelNotificationURL)
		}
		ref := s.URLSecretRef
		if ref == nil {
			continue
		}
		key := ref.Key
		if key == "" {
			key = "url"
		}
		secret := &corev1.Secret{}
		if err := r.Client.Get(ctx, client.ObjectKey{Namespace: r.Options.Namespace, Name: ref.Name}, secret); err != nil {
			return nil, fmt.Errorf("spec.notifications[%d] (%s): reading Secret %s: %w", i, s.Name, ref.Name, err)
		}
		if secret.Labels[v1alpha1.LabelNotificationURL] != "true" {
			return nil, fmt.Errorf("spec.notifications[%d] (%s): Secret %s is not marked for upshift's notifications: label it (kubectl -n %s label secret %s %s=true) if it holds this sink's URL", i, s.Name, ref.Name, r.Options.Namespace, ref.Name, v1alpha1.LabelNotificationURL)
		}
		u := strings.TrimSpace(string(secret.Data[key]))
		if !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
			return nil, fmt.Errorf("spec.notifications[%d] (%s): key %q of Secret %s does not hold an http(s) URL", i, s.Name, key, ref.Name)
		}
		r.scrub.add(u)
		s.URL, s.URLSecretRef = u, nil
	}
	return out, nil
}
