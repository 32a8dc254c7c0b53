package traffic

import (
	"strings"
	"testing"
)

func TestWeightsValidate(t *testing.T) {
	for _, tc := range []struct {
		w    Weights
		want string
	}{
		{Weights{"blue": 100}, ""},
		{Weights{"blue": 20, "green": 80}, ""},
		{Weights{"blue": 50, "green": 60}, "add up to 110"},
		{Weights{"blue": -1, "green": 101}, "use 0 to 100"},
		{Weights{}, "no backends"},
	} {
		err := tc.w.Validate()
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%v.Validate() = %v, want %q", tc.w, err, tc.want)
		}
	}
}
