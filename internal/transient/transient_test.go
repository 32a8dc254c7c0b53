package transient_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"syscall"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"upshift.dev/upshift/internal/transient"
)

func TestIs(t *testing.T) {
	gr := schema.GroupResource{Resource: "nodes"}
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"connection refused", fmt.Errorf("listing nodes: %w", refused), true},
		{"connection reset", fmt.Errorf("x: %w", syscall.ECONNRESET), true},
		{"429", apierrors.NewTooManyRequests("slow down", 1), true},
		{"503", apierrors.NewServiceUnavailable("upgrading"), true},
		{"500", apierrors.NewInternalError(errors.New("etcd")), true},
		{"server timeout", apierrors.NewServerTimeout(gr, "list", 1), true},
		{"request cut short", &url.Error{Op: "Get", URL: "https://127.0.0.1:6443/api", Err: io.EOF}, true},
		{"a wait that ran out (a drain timeout)", fmt.Errorf("draining n1: %w", context.DeadlineExceeded), false},
		{"http2 lost (text only)", errors.New(`Get "https://127.0.0.1:6443/api": http2: client connection lost`), true},
		{"not found", apierrors.NewNotFound(gr, "n1"), false},
		{"forbidden", apierrors.NewForbidden(gr, "n1", errors.New("rbac")), false},
		{"invalid", apierrors.NewBadRequest("bad"), false},
		{"conflict", apierrors.NewConflict(gr, "n1", errors.New("changed")), false},
		{"canceled", fmt.Errorf("x: %w", context.Canceled), false},
		{"a failing gate", errors.New("gate e2e (Command): exited 3"), false},
		{"a gate whose HTTP check was refused, past its threshold", transient.MarkPermanent(fmt.Errorf("gate site-up (HTTP): %w", refused)), false},
		{"a drain against a budget (eviction 429)", fmt.Errorf("draining: %w", drainErr{apierrors.NewTooManyRequests("pdb", 5)}), false},
		{"text only: refused (no errno kept)", errors.New("dial tcp 127.0.0.1:1: connect: connection refused"), false},
		{"nil", nil, false},
	} {
		if got := transient.Is(tc.err); got != tc.want {
			t.Errorf("%s: Is = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// drainErr stands for nodes.DrainError: permanent, wrapping what refused.
type drainErr struct{ err error }

func (d drainErr) Error() string   { return "drain timed out: " + d.err.Error() }
func (d drainErr) Unwrap() error   { return d.err }
func (d drainErr) Permanent() bool { return true }
