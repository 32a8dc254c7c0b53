package yamlstream

import (
	"strings"
	"testing"
)

// TestQuoted: a bare number in a version field is refused with the
// file's line, in any document; a quoted one, or a number elsewhere, is not.
func TestQuoted(t *testing.T) {
	data := []byte("# a fleet\nkind: A\nspec: {kubernetesVersion: \"1.40\", replicas: 3}\n---\nkind: B\nspec:\n  pools:\n  - kubernetesVersion: 1.40\n")
	var errs []error
	err := Each("f.yaml", data, func(i int, doc []byte) error {
		errs = append(errs, Quoted("f.yaml", data, i, doc, "kubernetesVersion"))
		return nil
	})
	if err != nil || len(errs) != 2 {
		t.Fatalf("%v %v", err, errs)
	}
	if errs[0] != nil {
		t.Errorf("quoted: %v", errs[0])
	}
	if errs[1] == nil || !strings.Contains(errs[1].Error(), `f.yaml: line 8: kubernetesVersion: 1.40 is a number to YAML, not a version; quote it: kubernetesVersion: "1.40"`) {
		t.Errorf("bare, second document: %v", errs[1])
	}
}
