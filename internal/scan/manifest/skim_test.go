package manifest

import (
	"fmt"
	"reflect"
	"testing"
)

// skimSeeds are documents written as manifests are, and near misses of
// every rule skim keeps: each is read by Read (skim where it can) and by
// yaml.v3 alone, and the two must agree.
var skimSeeds = []string{
	"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web-1\n  namespace: shop\n  labels: {app: web, tier: front}\nspec:\n  replicas: 3\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: web\n        image: registry.example/web:1.1\n        args:\n        - --port=8080\n        ports:\n        - containerPort: 8080\n        resources:\n          requests: {cpu: 100m, memory: 128Mi}\n",
	"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  config.yaml: |\n    level: info\n\n    port: 8080\n  other: x\n---\n# only a comment\n---\napiVersion: v1\nkind: Service\nmetadata:\n  generateName: svc-\nspec:\n  ports:\n    - port: 80 # http\n      targetPort: 8080\n",
	"apiVersion: 'v1'\nkind: \"Secret\"\nmetadata:\n  name: 'it''s'\n  namespace: \"a b\"\n",
	"apiVersion: v1\nkind: Pod\nmetadata:\n  name: true\n",
	"apiVersion: v1\nkind: Pod\nmetadata:\n  name: 123\n",
	"apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  name: b\n",
	"apiVersion: v1\nkind: Pod\nmetadata: {name: flow}\n",
	"apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n   bad: indent\n",
	"apiVersion: v1\nkind: Pod\nmetadata:\n  name: multi\n    line\n",
	"apiVersion: v1\nkind: Pod\nspec:\n  x: {a: 1, a: 2}\n",
	"apiVersion: v1\nkind: Pod\nspec:\n  x: [a, b, {c: d}]\n  y: [a,]\n",
	"apiVersion: v1\nkind: Pod\nspec:\n  x: a: b\n",
	"apiVersion: v1\nkind: Pod\nspec:\n  x: &a 1\n  y: *a\n",
	"apiVersion: v1\nkind: Pod\nspec:\n\tx: 1\n",
	"apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata:\n    name: p\n",
	"apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: r\nrules:\n- apiGroups: [extensions]\n  resources: [ingresses]\n",
	"--- {apiVersion: v1, kind: Pod}\n",
	"kind: Pod\n",
	"apiVersion: v1\n",
	"just a string\n",
	"- a\n- b\n",
	"apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\nspec:\n  a: |2\n     indented\n",
	"apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\nspec:\n  a: >-\n    folded\n   less\n",
	"apiVersion: v1\nkind: Pod\nspec:\n  list:\n  - a\n  - b\n  after: 1\nmetadata:\n  name: late\n",
	"apiVersion: v1\nkind: Pod\nspec:\n  - a\n",
	"apiVersion: v1\nkind: Pod\nspec:\n  c: \"a\\\"b\"\n",
	"apiVersion: v1\r\nkind: Pod\r\n",
	"apiVersion: v1\nkind: Pod\nmetadata:\n  name: x # named\n  namespace:   ns   \n",
	"apiVersion: v1\nkind: Pod\nmetadata:\n  name: x#y\n",
	"apiVersion: v1\nkind: Pod\nmetadata:\n  name:\n    nested: 1\n",
	"apiVersion: v1\nkind: Pod\nmetadata:\n  annotations:\n    a: \"1\"\n  name: n\n",
	"apiVersion: v1\nkind: Pod\nx:\n- - a\n",
	"apiVersion: v1\nkind: Pod\nx:\n-\n  a: 1\n- b: |\n    text\n  c: 2\n",
	"apiVersion: v1\nkind: Pod\nx: [\n  a]\n",
	"apiVersion: v1\nkind: Pod\n...\napiVersion: v1\nkind: Service\n",
	"%YAML 1.2\n---\napiVersion: v1\nkind: Pod\n",
	"apiVersion: v1\nkind: Pod\nx: -\n",
	"apiVersion: v1\nkind: Pod\nx: 'unclosed\n",
	"apiVersion: v1\nkind: Pod\n? complex\n: key\n",
	"apiVersion: v1\nkind: Pod\nx: |\n  \n    more\n",
	"apiVersion: v1\nkind: Pod\nx: |\n\n  a\ny: 1\n",
	"apiVersion: v1\nkind: Pod\nx: !!str 1\n",
	"apiVersion: v1\nkind: Pod\nx: a  #c\ny: b#c\n",
	"apiVersion: v1\nkind: Pod\n  x: 1\n",
	"apiVersion: v1\nkind: Pod\nx:\n- a\ny:\n  - b\n",
	"apiVersion: v1\nkind: Pod\nmetadata:\n  name: Null\n",
	"apiVersion: v1\nkind: Pod\nmetadata:\n  name: \"\"\n",
	"apiVersion: v1\nkind: Pod\nmetadata:\n  name: yes\n  namespace: on\n",
	"apiVersion: v1\nkind: Pod\nmetadata:\n  name: TRUE\n",
	"apiVersion: v1\nkind: Pod\nmetadata:\n  name: e10\n",
	"apiVersion: v1\nkind: Pod\nmetadata:\n  name: Infinity\n",
}

// TestSkimAgreesWithYAML: the seeds read the same through Read (skim
// where it can) as through yaml.v3 alone, and skim takes the files a scan
// meets most (the benchmark's Deployment, a ConfigMap with a block
// scalar, quoted fields), so the fast path is really used.
func TestSkimAgreesWithYAML(t *testing.T) {
	for i, seed := range skimSeeds {
		checkSkim(t, fmt.Sprintf("seed %d", i), []byte(seed))
	}
	for _, i := range []int{0, 1, 2, 23, 27, 30} {
		if _, ok := skimAll("f.yaml", []byte(skimSeeds[i])); !ok {
			t.Errorf("seed %d is not skimmed:\n%s", i, skimSeeds[i])
		}
	}
	for _, i := range []int{3, 4, 5, 6, 9, 12, 13, 14, 15, 16, 26, 45} {
		if _, ok := skimAll("f.yaml", []byte(skimSeeds[i])); ok {
			t.Errorf("seed %d is skimmed; it is for yaml.v3:\n%s", i, skimSeeds[i])
		}
	}
}

func checkSkim(t *testing.T, name string, data []byte) {
	t.Helper()
	objs, errs := Read("f.yaml", data)
	fullObjs, fullErrs := readFull("f.yaml", data)
	if !reflect.DeepEqual(objs, fullObjs) || fmt.Sprint(errs) != fmt.Sprint(fullErrs) {
		t.Errorf("%s: Read gives %+v %v; yaml.v3 gives %+v %v\n%q", name, objs, errs, fullObjs, fullErrs, data)
	}
}

// FuzzSkim: whatever the input, Read (skim where it can) and yaml.v3
// alone find the same objects and the same errors.
func FuzzSkim(f *testing.F) {
	for _, s := range skimSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkSkim(t, "input", data) })
}
