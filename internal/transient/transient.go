package transient

import (
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"strings"
	"syscall"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Permanent is an error that is never retried, whatever it wraps: a gate
// that failed its threshold (its own attempts already waited), a drain
// that ran out of time against a budget that never yields (an eviction
// refused with 429 is the budget, not the server).
type Permanent interface{ Permanent() bool }

type permanent struct{ err error }

func (p permanent) Error() string   { return p.err.Error() }
func (p permanent) Unwrap() error   { return p.err }
func (p permanent) Permanent() bool { return true }

// MarkPermanent marks err as a real failure that retrying will not fix.
func MarkPermanent(err error) error {
	if err == nil {
		return nil
	}
	return permanent{err}
}

type passing struct{ err error }

func (p passing) Error() string   { return p.err.Error() }
func (p passing) Unwrap() error   { return p.err }
func (p passing) Transient() bool { return true }

// Mark marks err as a passing fault that a retry may get past, when only
// the code that saw it can tell (an exec provider's command that said so
// with its exit code).
func Mark(err error) error {
	if err == nil {
		return nil
	}
	return passing{err}
}

// Is reports whether err is a passing fault worth retrying.
func Is(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var p Permanent
	if errors.As(err, &p) && p.Permanent() {
		return false
	}
	var t interface{ Transient() bool }
	if errors.As(err, &t) && t.Transient() {
		return true
	}
	for _, errno := range []syscall.Errno{syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.ECONNABORTED, syscall.EPIPE, syscall.EHOSTUNREACH, syscall.ENETUNREACH} {
		if errors.Is(err, errno) {
			return true
		}
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	var urlErr *url.Error
	if errors.As(err, &urlErr) && (errors.Is(urlErr.Err, io.EOF) || urlErr.Timeout()) {
		return true // a request whose connection closed or timed out
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return false // a wait of upshift's own ran out (a drain timeout): not the server's fault
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return true
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		switch {
		case apierrors.IsTooManyRequests(err), apierrors.IsServerTimeout(err), apierrors.IsTimeout(err),
			apierrors.IsInternalError(err), apierrors.IsServiceUnavailable(err), apierrors.IsUnexpectedServerError(err):
			return true
		}
		code := status.Status().Code
		return code == 429 || code >= 500
	}
	// client-go reports some dropped connections only as text (an HTTP/2
	// stream reset, a watch cut short); these are the ones it documents.
	msg := err.Error()
	for _, s := range []string{"http2: client connection lost", "http2: server sent GOAWAY", "TLS handshake timeout"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
