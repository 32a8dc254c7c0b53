package names

import (
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Error is a name that fails its rule. It says which kind of name it is
// and what to write instead.
type Error struct {
	// Kind is what the name names, e.g. "local cluster" or "run".
	Kind string
	Name string
	// Reason is the rule's own explanation.
	Reason string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s name %q is not valid: %s", e.Kind, e.Name, e.Reason)
}

// IsInvalid reports whether err is, or wraps, an invalid name.
func IsInvalid(err error) bool {
	var e *Error
	return errors.As(err, &e)
}

// Label checks a name used as one path element or a DNS label: lowercase
// letters, digits and '-', starting and ending with a letter or digit, at
// most 63 characters. Local clusters, node pools and stages use it.
func Label(kind, name string) error {
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
		return &Error{Kind: kind, Name: name, Reason: reason(errs, "e.g. prod-eu-1")}
	}
	return nil
}

// Subdomain checks a name that may hold dots, such as a run or a fleet
// cluster: DNS-1123 labels joined by '.', at most 253 characters. Dots
// alone ("." or "..") and slashes never pass.
func Subdomain(kind, name string) error {
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return &Error{Kind: kind, Name: name, Reason: reason(errs, "e.g. upgrade-1-35")}
	}
	return nil
}

// Host checks a host name a route answers for: a DNS-1123 subdomain, no
// port, path or scheme.
func Host(kind, name string) error {
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return &Error{Kind: kind, Name: name, Reason: reason(errs, "a host name without port or path, e.g. shop.example.com")}
	}
	return nil
}

func reason(errs []string, example string) string {
	r := strings.Join(errs, "; ")
	if !strings.Contains(r, "e.g.") {
		r += " (" + example + ")"
	}
	return r
}
