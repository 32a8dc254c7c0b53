package plan

import (
	"net/url"
	"slices"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"upshift.dev/upshift/api/v1alpha1"
)

var (
	kinds = []string{v1alpha1.NotifyRunStarted, v1alpha1.NotifyStageCompleted, v1alpha1.NotifyApprovalNeeded, v1alpha1.NotifyStepFailed,
		v1alpha1.NotifyRolledBack, v1alpha1.NotifyRunCompleted, v1alpha1.NotifyRunFailed, v1alpha1.NotifyEscalated}
	formats = []string{v1alpha1.NotifyFormatJSON, v1alpha1.NotifyFormatSlack, v1alpha1.NotifyFormatTeams}
)

// validateNotifications checks a run's sinks.
func validateNotifications(p *field.Path, sinks []v1alpha1.NotificationSink) field.ErrorList {
	var errs field.ErrorList
	seen := map[string]bool{}
	for i, s := range sinks {
		sp := p.Index(i)
		switch {
		case s.Name == "":
			errs = append(errs, field.Required(sp.Child("name"), "sinks are named in the audit log"))
		case seen[s.Name]:
			errs = append(errs, field.Duplicate(sp.Child("name"), s.Name))
		}
		seen[s.Name] = true
		switch {
		case btoi(s.URL != "")+btoi(s.URLFile != "")+btoi(s.URLSecretRef != nil) != 1:
			errs = append(errs, field.Required(sp.Child("urlFile"), "give urlFile (a file holding the webhook's URL), url, or on a hub urlSecretRef: one of them"))
		case s.URLSecretRef != nil && s.URLSecretRef.Name == "":
			errs = append(errs, field.Required(sp.Child("urlSecretRef", "name"), "the Secret holding the URL"))
		case s.URL != "":
			if u, err := url.Parse(s.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				errs = append(errs, field.Invalid(sp.Child("url"), "(not shown)", "an http(s) URL is required"))
			}
		}
		if s.Format != "" && !slices.Contains(formats, s.Format) {
			errs = append(errs, field.NotSupported(sp.Child("format"), s.Format, formats))
		}
		for j, k := range s.Events {
			if !slices.Contains(kinds, k) {
				errs = append(errs, field.NotSupported(sp.Child("events").Index(j), k, kinds))
			}
		}
	}
	return errs
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
