package nodes_test

import (
	"testing"

	"k8s.io/apimachinery/pkg/util/intstr"

	"upshift.dev/upshift/internal/nodes"
)

func TestSurgeCount(t *testing.T) {
	for _, tc := range []struct {
		surge intstr.IntOrString
		size  int
		want  int
		err   bool
	}{
		{intstr.FromInt32(3), 50, 3, false},
		{intstr.FromString("10%"), 50, 5, false},
		{intstr.FromString("33%"), 50, 17, false},
		{intstr.FromString("1%"), 3, 1, false},
		{intstr.FromInt32(0), 5, 1, false},
		{intstr.FromString("many"), 5, 0, true},
		{intstr.FromString("2"), 50, 2, false}, // quoted, as AKS's API writes it
		{intstr.FromString("-2"), 50, 0, true},
		{intstr.FromInt32(-1), 5, 0, true},
	} {
		t.Run(tc.surge.String(), func(t *testing.T) {
			got, err := nodes.SurgeCount(tc.surge, tc.size)
			if (err != nil) != tc.err || got != tc.want {
				t.Errorf("SurgeCount(%s, %d) = %d, %v; want %d (error %v)", tc.surge.String(), tc.size, got, err, tc.want, tc.err)
			}
		})
	}
}
