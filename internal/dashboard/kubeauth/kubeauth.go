package kubeauth

import (
	"context"
	"fmt"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/dashboard"
)

// Authenticator checks tokens and rights against one cluster's API
// server, for the runs of one namespace.
type Authenticator struct {
	Client    kubernetes.Interface
	Namespace string
	// Audiences the token must be meant for (empty: the API server's own).
	Audiences []string
}

var _ dashboard.Authenticator = (*Authenticator)(nil)

// right is what the API server must allow for an action: the write
// `upshift approve`, `stop` or `rollback` on a hub (or kubectl) would make.
type right struct {
	verb, resource, subresource, what string
}

var rights = map[string]right{
	dashboard.ActionView:     {"list", "updateruns", "", "list UpdateRuns"},
	dashboard.ActionApprove:  {"update", "approvalrequests", "status", "update approvalrequests/status (bind the upshift-approver Role)"},
	dashboard.ActionStop:     {"update", "updateruns", "", "update UpdateRuns"},
	dashboard.ActionRollback: {"update", "updateruns", "", "update UpdateRuns"},
}

// Authenticate asks the API server who the token is.
func (a *Authenticator) Authenticate(ctx context.Context, token, _ string) (dashboard.Identity, error) {
	if token == "" {
		return dashboard.Identity{}, fmt.Errorf("%w: no token", dashboard.ErrDenied)
	}
	tr, err := a.Client.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{
		Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: a.Audiences}}, metav1.CreateOptions{})
	if err != nil {
		return dashboard.Identity{}, fmt.Errorf("checking the token with the API server: %w", err)
	}
	if !tr.Status.Authenticated {
		// The API server's reason may quote the token's claims; say only
		// that it was refused.
		return dashboard.Identity{}, fmt.Errorf("%w: the API server does not accept this token", dashboard.ErrDenied)
	}
	u := tr.Status.User
	return dashboard.Identity{Name: u.Username, UID: u.UID, Groups: u.Groups}, nil
}

// Allow asks the API server whether the user may make the action's write
// in the namespace.
func (a *Authenticator) Allow(ctx context.Context, id dashboard.Identity, action string) error {
	r, ok := rights[action]
	if !ok {
		return fmt.Errorf("%w: unknown action %q", dashboard.ErrDenied, action)
	}
	sar, err := a.Client.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
		Spec: authorizationv1.SubjectAccessReviewSpec{User: id.Name, UID: id.UID, Groups: id.Groups,
			ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: a.Namespace, Verb: r.verb,
				Group: v1alpha1.SchemeGroupVersion.Group, Resource: r.resource, Subresource: r.subresource}}}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("checking %s's rights with the API server: %w", id.Name, err)
	}
	if !sar.Status.Allowed {
		return fmt.Errorf("%w: %s may not %s: that needs the right to %s in namespace %s", dashboard.ErrDenied, id.Name, action, r.what, a.Namespace)
	}
	return nil
}

// AsksName is false: the API server names the user.
func (a *Authenticator) AsksName() bool { return false }
