package hub

import (
	"context"
	"fmt"
	"strings"

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
		data, err := r.markedSecret(ctx, ref.Name, key, v1alpha1.LabelNotificationURL, "this sink's URL", "--from-literal="+key+"=URL")
		if err != nil {
			return nil, fmt.Errorf("spec.notifications[%d] (%s): urlSecretRef %w", i, s.Name, err)
		}
		u := strings.TrimSpace(string(data))
		if !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
			return nil, fmt.Errorf("spec.notifications[%d] (%s): key %q of Secret %s does not hold an http(s) URL", i, s.Name, key, ref.Name)
		}
		r.scrub.add(u)
		s.URL, s.URLSecretRef = u, nil
	}
	return out, nil
}
