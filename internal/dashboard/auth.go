package dashboard

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
)

// Actions a person takes on the dashboard, which an Authenticator allows
// or refuses.
const (
	ActionView     = "view"
	ActionApprove  = "approve"
	ActionStop     = "stop"
	ActionRollback = "rollback"
)

// Identity is who a request acts for: the name recorded with what they
// approve, stop or roll back.
type Identity struct {
	Name   string   `json:"n"`
	UID    string   `json:"u,omitempty"`
	Groups []string `json:"g,omitempty"`
}

// Authenticator checks the credential a person signs in with (or a
// client sends as "Authorization: Bearer"), and what they may do.
type Authenticator interface {
	// Authenticate checks a bearer credential. name is what the sign-in
	// form asked for when AsksName is true ("" from an API client).
	Authenticate(ctx context.Context, token, name string) (Identity, error)
	// Allow says whether id may take action on runs; its error says what
	// right is missing.
	Allow(ctx context.Context, id Identity, action string) error
	// AsksName is whether the sign-in form asks for a name: a shared token
	// names nobody.
	AsksName() bool
}

// ErrDenied is what a refused credential or action wraps.
var ErrDenied = errors.New("denied")

// SharedToken is one token for everyone who may use the dashboard, each
// naming themselves when they sign in (an API client is "api"). It suits
// a single user on loopback; on a hub, sign in with Kubernetes identities
// (kubeauth) so that RBAC says who approves.
type SharedToken struct{ Token string }

// Authenticate compares the token in constant time.
func (a SharedToken) Authenticate(_ context.Context, token, name string) (Identity, error) {
	if a.Token == "" || subtle.ConstantTimeCompare([]byte(token), []byte(a.Token)) != 1 {
		return Identity{}, fmt.Errorf("%w: wrong token", ErrDenied)
	}
	name = strings.TrimSpace(name)
	if name == "" {
		name = "api"
	}
	return Identity{Name: name}, nil
}

// Allow allows everything to whoever holds the token.
func (SharedToken) Allow(context.Context, Identity, string) error { return nil }

// AsksName is true: the token says nothing of who holds it.
func (SharedToken) AsksName() bool { return true }
