// Package manifest reads Kubernetes manifests — YAML streams of several
// documents, JSON, List kinds, folders of them, or rendered Helm/kustomize
// output on stdin — and remembers the file and line of every object. A
// document that does not parse is reported with its file and line, and the
// rest of the input is still read.
package manifest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Object is one Kubernetes object found in the input.
type Object struct {
	APIVersion string
	Kind       string
	Name       string
	Namespace  string
	File       string // path, or "-" for stdin
	Line       int    // 1-based line where the object starts
	// Content is the object as decoded JSON-compatible values.
	Content map[string]any
}

// Location renders file:line.
func (o Object) Location() string { return fmt.Sprintf("%s:%d", o.File, o.Line) }

// ParseError says where a document could not be read.
type ParseError struct {
	File string
	Line int
	Msg  string
	// NotObject says the document is no Kubernetes object at all (a
	// chart's Chart.yaml or values.yaml, a list, plain data): the scan
	// skips it rather than count it unreadable.
	NotObject bool
}

// IsNotObject reports whether err is a document that is no Kubernetes
// object, which scans list as skipped.
func IsNotObject(err error) bool {
	var pe *ParseError
	return errors.As(err, &pe) && pe.NotObject
}

func (e *ParseError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// Read parses the documents of one file. Broken documents become errors;
// the others are returned.
func Read(file string, data []byte) ([]Object, []error) {
	var objs []Object
	var errs []error
	for _, doc := range split(data) {
		o, err := readDocument(file, doc)
		objs = append(objs, o...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return objs, errs
}

type document struct {
	start int // 1-based line of the document's first line
	data  []byte
}

var separator = regexp.MustCompile(`^---(\s.*)?$`)

// split cuts a YAML stream at its "---" lines, keeping each document's
// first line number. JSON has no separators and stays whole.
func split(data []byte) []document {
	var docs []document
	cur := document{start: 1}
	line := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 64*1024*1024)
	for sc.Scan() {
		line++
		text := sc.Text()
		if separator.MatchString(text) || text == "..." {
			docs = append(docs, cur)
			cur = document{start: line + 1}
			continue
		}
		cur.data = append(cur.data, text...)
		cur.data = append(cur.data, '\n')
	}
	return append(docs, cur)
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

func readDocument(file string, doc document) ([]Object, error) {
	if len(bytes.TrimSpace(doc.data)) == 0 {
		return nil, nil
	}
	var root yaml.Node
	if err := yaml.Unmarshal(doc.data, &root); err != nil {
		line, msg := doc.start, err.Error()
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			n, _ := strconv.Atoi(m[1])
			line, msg = doc.start+n-1, strings.TrimPrefix(msg, m[0])
		}
		return nil, &ParseError{File: file, Line: line, Msg: "cannot parse: " + strings.TrimPrefix(msg, "yaml: ")}
	}
	if root.Kind == 0 || len(root.Content) == 0 {
		return nil, nil // only comments
	}
	node := root.Content[0]
	if node.Kind != yaml.MappingNode {
		return nil, &ParseError{File: file, Line: doc.start + node.Line - 1, Msg: "not a Kubernetes object: the document is not a mapping", NotObject: true}
	}
	var content map[string]any
	if err := node.Decode(&content); err != nil {
		return nil, &ParseError{File: file, Line: doc.start + node.Line - 1, Msg: "cannot decode: " + err.Error()}
	}
	obj, err := toObject(file, doc.start+node.Line-1, content)
	if err != nil {
		return nil, err
	}
	items, isList := listItems(node, obj)
	if !isList {
		return []Object{obj}, nil
	}
	var out []Object
	var errs []error
	for _, item := range items {
		var c map[string]any
		line := doc.start + item.Line - 1
		if err := item.Decode(&c); err != nil {
			errs = append(errs, &ParseError{File: file, Line: line, Msg: "cannot decode list item: " + err.Error()})
			continue
		}
		o, err := toObject(file, line, c)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, o)
	}
	return out, errors.Join(errs...)
}

// listItems returns the item nodes of a List kind (v1 List or FooList).
func listItems(node *yaml.Node, obj Object) ([]*yaml.Node, bool) {
	if !strings.HasSuffix(obj.Kind, "List") {
		return nil, false
	}
	for i := 0; i+1 < len(node.Content); i += 2 {
		if node.Content[i].Value == "items" && node.Content[i+1].Kind == yaml.SequenceNode {
			return node.Content[i+1].Content, true
		}
	}
	return nil, false
}

func toObject(file string, line int, content map[string]any) (Object, error) {
	o := Object{File: file, Line: line, Content: content}
	o.APIVersion, _ = content["apiVersion"].(string)
	o.Kind, _ = content["kind"].(string)
	switch {
	case o.Kind == "":
		// No kind: Chart.yaml (apiVersion v2), values.yaml, plain data.
		return Object{}, &ParseError{File: file, Line: line, Msg: "not a Kubernetes object (no kind)", NotObject: true}
	case o.APIVersion == "":
		// A kind without apiVersion looks like an object written wrong.
		return Object{}, &ParseError{File: file, Line: line, Msg: "kind " + o.Kind + " without apiVersion"}
	}
	if meta, ok := content["metadata"].(map[string]any); ok {
		o.Name, _ = meta["name"].(string)
		o.Namespace, _ = meta["namespace"].(string)
		if o.Name == "" {
			o.Name, _ = meta["generateName"].(string)
		}
	}
	return o, nil
}

// ReadPaths reads files and folders (recursively: .yaml, .yml and .json
// files); "-" reads stdin. Unreadable paths are errors; the rest goes on.
func ReadPaths(paths []string, stdin io.Reader) ([]Object, []error) {
	var objs []Object
	var errs []error
	add := func(o []Object, e []error) {
		objs = append(objs, o...)
		errs = append(errs, e...)
	}
	for _, p := range paths {
		if p == "-" {
			data, err := io.ReadAll(stdin)
			if err != nil {
				errs = append(errs, fmt.Errorf("reading stdin: %w", err))
				continue
			}
			add(Read("-", data))
			continue
		}
		st, err := os.Stat(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("reading %s: %w", p, err))
			continue
		}
		if !st.IsDir() {
			data, err := os.ReadFile(p)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			add(Read(p, data))
			continue
		}
		var files []string
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && strings.HasPrefix(d.Name(), ".") && path != p {
				return filepath.SkipDir
			}
			switch strings.ToLower(filepath.Ext(path)) {
			case ".yaml", ".yml", ".json":
				if !d.IsDir() {
					files = append(files, path)
				}
			}
			return nil
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("walking %s: %w", p, err))
		}
		sort.Strings(files)
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			add(Read(f, data))
		}
	}
	return objs, errs
}
