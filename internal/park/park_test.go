package park

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestParkOnlyWhereAllowed(t *testing.T) {
	bg := context.Background()
	soon, later := time.Now().Add(time.Second), time.Now().Add(time.Hour)
	allowed := Allow(bg, time.Minute)
	for _, c := range []struct {
		name string
		err  error
		park bool
	}{
		{"no Allow: a long soak is waited in place", Until(bg, later, "soak"), false},
		{"allowed: a long soak parks", Until(allowed, later, "soak"), true},
		{"allowed: a soak shorter than the bound is waited in place", Until(allowed, soon, "soak"), false},
		{"forbidden under an allowed context", Until(Forbid(allowed), later, "soak"), false},
		{"no Allow: an approval is waited in place", ForChange(bg, time.Time{}, "approval"), false},
		{"allowed: an approval parks", ForChange(allowed, time.Time{}, "approval"), true},
		{"allowed: an approval with a far deadline parks", ForChange(allowed, later, "approval"), true},
		{"allowed: an approval about to time out is waited in place", ForChange(allowed, soon, "approval"), false},
	} {
		var p *Error
		if got := errors.As(c.err, &p); got != c.park {
			t.Errorf("%s: parked %v (%v)", c.name, got, c.err)
		}
	}
	var p *Error
	if errors.As(Until(allowed, later, "soak"), &p); !p.Until.Equal(later) || p.Why != "soak" {
		t.Errorf("parked %+v, want until %v for the soak", p, later)
	}
	if errors.As(ForChange(allowed, time.Time{}, "approval"), &p); !p.Until.IsZero() {
		t.Errorf("an approval without a deadline parked until %v", p.Until)
	}
}
