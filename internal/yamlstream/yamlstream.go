package yamlstream

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"

	yaml3 "go.yaml.in/yaml/v3"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// Each calls fn with every non-empty document of data and its 1-based
// position in the stream; errors name the stream and the document.
func Each(name string, data []byte, fn func(i int, doc []byte) error) error {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for i := 1; ; i++ {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: document %d: %w", name, i, err)
		}
		js, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return fmt.Errorf("%s: document %d: %w", name, i, err)
		}
		if bytes.Equal(bytes.TrimSpace(js), []byte("null")) {
			continue
		}
		if err := fn(i, doc); err != nil {
			return err
		}
	}
}

// Quoted refuses a document (the i-th of data) in which one of keys
// holds a bare number: YAML reads `kubernetesVersion: 1.40` as the number
// 1.4, which a version field would take for 1.4. The error names the
// file's line and the quoting that keeps what the user wrote.
func Quoted(name string, data []byte, i int, doc []byte, keys ...string) error {
	var root yaml3.Node
	if err := yaml3.Unmarshal(doc, &root); err != nil {
		return nil // the decoder that follows says what is wrong
	}
	var bare *yaml3.Node
	var key string
	var walk func(n *yaml3.Node)
	walk = func(n *yaml3.Node) {
		if n.Kind == yaml3.MappingNode {
			for j := 0; j+1 < len(n.Content) && bare == nil; j += 2 {
				k, v := n.Content[j], n.Content[j+1]
				if v.Kind == yaml3.ScalarNode && v.Style == 0 && (v.Tag == "!!float" || v.Tag == "!!int") && slices.Contains(keys, k.Value) {
					bare, key = v, k.Value
				}
			}
		}
		for _, c := range n.Content {
			if bare == nil {
				walk(c)
			}
		}
	}
	walk(&root)
	if bare == nil {
		return nil
	}
	return fmt.Errorf("%s: line %d: %s: %s is a number to YAML, not a version; quote it: %s: \"%s\"", name, firstLine(data, i)+bare.Line-1, key, bare.Value, key, bare.Value)
}

// firstLine is the line of data on which its i-th document starts.
func firstLine(data []byte, i int) int {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	cursor := 0
	for n := 1; ; n++ {
		doc, err := reader.Read()
		if err != nil {
			return 1
		}
		at := bytes.Index(data[cursor:], bytes.TrimRight(doc, "\n"))
		if at < 0 {
			return 1
		}
		if n == i {
			return 1 + bytes.Count(data[:cursor+at], []byte("\n"))
		}
		cursor += at + len(bytes.TrimRight(doc, "\n"))
	}
}
