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

func TestPercents(t *testing.T) {
	for _, tc := range []struct {
		in   []Share
		want string
	}{
		{[]Share{{"blue", 90}, {"green", 10}}, "blue=90,green=10"},
		{[]Share{{"blue", 1}}, "blue=100"},
		{[]Share{{"a", 1}, {"b", 1}, {"c", 1}}, "a=34,b=33,c=33"},
		{[]Share{{"a", 0}, {"b", 0}}, "a=0,b=0"},
		{[]Share{{"a", 256}, {"b", 1}}, "a=100,b=0"},
	} {
		if got := Percents(tc.in).String(); got != tc.want {
			t.Errorf("Percents(%v) = %s, want %s", tc.in, got, tc.want)
		}
	}
}
