package fleet

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"

	"upshift.dev/upshift/internal/atomicfile"
)

// SetName rewrites a fleet file so that the cluster named clusterName
// points at the provider's cluster name through field (its provider's
// name field, e.g. spec.local.name): green taking blue's place after a
// blue-green move. Only that one value changes: the file's comments,
// order, other documents and mode are kept, and the file is replaced
// atomically.
func SetName(path, clusterName string, field []string, name string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var docs []*yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		docs = append(docs, &doc)
	}
	found := false
	for _, doc := range docs {
		if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
			continue
		}
		obj := doc.Content[0]
		if name := lookup(obj, "metadata", "name"); name == nil || name.Value != clusterName {
			continue
		}
		v := lookup(obj, field...)
		if v == nil {
			return fmt.Errorf("%s: cluster %s has no %s to point at %s", path, clusterName, strings.Join(field, "."), name)
		}
		v.Value, found = name, true
	}
	if !found {
		return fmt.Errorf("%s: no cluster %s to point at %s", path, clusterName, name)
	}
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	for _, doc := range docs {
		if err := enc.Encode(doc); err != nil {
			return err
		}
	}
	if err := enc.Close(); err != nil {
		return err
	}
	if _, err := Parse(path, out.Bytes()); err != nil {
		return fmt.Errorf("rewriting %s gave an invalid fleet (left unchanged): %w", path, err)
	}
	return atomicfile.Write(path, out.Bytes(), 0o600)
}

// lookup follows mapping keys from a node; nil when one is missing.
func lookup(n *yaml.Node, keys ...string) *yaml.Node {
	for _, k := range keys {
		if n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				next = n.Content[i+1]
			}
		}
		if next == nil {
			return nil
		}
		n = next
	}
	return n
}
