package localfleet

import (
	"strings"
	"testing"
)

func TestParsePool(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    PoolSpec
		errPart string
	}{
		{"system=3", PoolSpec{Name: "system", Count: 3}, ""},
		{"user=0", PoolSpec{Name: "user", Count: 0}, ""},
		{"user", PoolSpec{}, "write NAME=COUNT"},
		{"user=five", PoolSpec{}, "whole number"},
		{"user=-1", PoolSpec{}, "whole number"},
		{"user=999999", PoolSpec{}, "whole number"},
		{"User_1=2", PoolSpec{}, "not a DNS label"},
		{"=2", PoolSpec{}, "not a DNS label"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParsePool(tc.in)
			if tc.errPart != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errPart) {
					t.Fatalf("ParsePool(%q) = %v, %v; want error with %q", tc.in, got, err, tc.errPart)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParsePool(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestSpecValidate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		spec    Spec
		errPart string
	}{
		{"ok", Spec{Name: "dev", NodePools: []PoolSpec{{Name: "a", Count: 1}}}, ""},
		{"bad name", Spec{Name: "Dev_1"}, "cluster name"},
		{"long name", Spec{Name: strings.Repeat("a", 41)}, "at most 40"},
		{"duplicate pool", Spec{Name: "dev", NodePools: []PoolSpec{{Name: "a"}, {Name: "a"}}}, "given twice"},
		{"bad image", Spec{Name: "dev", NodeImage: "Ubuntu 22.04"}, "node image"},
		{"bad port", Spec{Name: "dev", APIServerPort: 70000}, "out of range"},
		{"shared port", Spec{Name: "dev", APIServerPort: 7000, IngressPort: 7000}, "cannot share"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.spec.Validate()
			if tc.errPart == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.errPart) {
				t.Fatalf("Validate() = %v; want error with %q", err, tc.errPart)
			}
		})
	}
}

func TestCheckUpgrade(t *testing.T) {
	for _, tc := range []struct {
		from, to, errPart string
	}{
		{"v1.33.13", "v1.34.4", ""},
		{"v1.34.4", "v1.34.4", ""},
		{"v1.34.4", "v1.33.13", "downgrade"},
		{"v1.32.1", "v1.34.4", "one minor version at a time; upgrade to 1.33 first"},
	} {
		err := CheckUpgrade(tc.from, tc.to)
		if (tc.errPart == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.errPart)) {
			t.Errorf("CheckUpgrade(%s, %s) = %v; want %q", tc.from, tc.to, err, tc.errPart)
		}
	}
}
