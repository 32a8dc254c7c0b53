package yamlstream

import (
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"

	yaml3 "go.yaml.in/yaml/v3"
)

// UnknownField finds the first key of the i-th document of data that the
// Go type of into has no field for, and says where it is in the user's
// file: "run.yaml: line 7: spec.upgrade.kubernetesVerison: unknown field;
// did you mean kubernetesVersion?". It returns nil when every key is
// known (the decoder's error is about something else).
func UnknownField(name string, data []byte, i int, doc []byte, into any) error {
	var root yaml3.Node
	if err := yaml3.Unmarshal(doc, &root); err != nil || len(root.Content) == 0 {
		return nil
	}
	found := unknownIn(root.Content[0], reflect.TypeOf(into), "")
	if found == nil {
		return nil
	}
	msg := fmt.Sprintf("%s: line %d: %s: unknown field", name, firstLine(data, i)+found.line-1, found.path)
	if found.suggest != "" {
		msg += "; did you mean " + found.suggest + "?"
	} else if len(found.known) > 0 {
		msg += " (known here: " + strings.Join(found.known, ", ") + ")"
	}
	return fmt.Errorf("%s", msg)
}

type unknown struct {
	path, suggest string
	known         []string
	line          int
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// unknownIn walks a node along the type it decodes into.
func unknownIn(n *yaml3.Node, t reflect.Type, path string) *unknown {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(jsonUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler) {
		return nil // decodes itself (durations, quantities, int-or-string)
	}
	switch {
	case t.Kind() == reflect.Struct && n.Kind == yaml3.MappingNode:
		fields := jsonFields(t)
		for j := 0; j+1 < len(n.Content); j += 2 {
			key, value := n.Content[j], n.Content[j+1]
			at := join(path, key.Value)
			ft, ok := fields[key.Value]
			if !ok {
				u := &unknown{path: at, line: key.Line}
				for f := range fields {
					u.known = append(u.known, f)
				}
				u.suggest = nearest(key.Value, u.known)
				slices.Sort(u.known)
				return u
			}
			if u := unknownIn(value, ft, at); u != nil {
				return u
			}
		}
	case (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) && n.Kind == yaml3.SequenceNode:
		for j, item := range n.Content {
			if u := unknownIn(item, t.Elem(), fmt.Sprintf("%s[%d]", path, j)); u != nil {
				return u
			}
		}
	case t.Kind() == reflect.Map && n.Kind == yaml3.MappingNode:
		for j := 0; j+1 < len(n.Content); j += 2 {
			if u := unknownIn(n.Content[j+1], t.Elem(), join(path, n.Content[j].Value)); u != nil {
				return u
			}
		}
	}
	return nil
}

// jsonFields maps a struct's JSON names to their types, inline and
// embedded structs included.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if (f.Anonymous && name == "") || strings.Contains(","+opts+",", ",inline,") {
			if ft.Kind() == reflect.Struct {
				for k, v := range jsonFields(ft) {
					out[k] = v
				}
				continue
			}
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// nearest is the known name closest to a typo, when it is close enough
// to be what was meant.
func nearest(typo string, known []string) string {
	best, bestD := "", len(typo)/3+2
	for _, k := range known {
		if d := distance(strings.ToLower(typo), strings.ToLower(k)); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// distance is the Damerau-Levenshtein (optimal string alignment) distance.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range rb {
		d[0][j+1] = j + 1
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}
