package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

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
	// Rules of a Role or ClusterRole: the groups and resources each
	// grants, for the check of grants in API groups that no longer serve
	// them.
	Rules []Rule
}

// Rule is one rule of a Role or ClusterRole.
type Rule struct {
	APIGroups, Resources []string
	Line                 int
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
// the others are returned. A file whose every document the skim
// recognizes is read by it alone; any other is parsed by one yaml.v3
// decoder, and when a document is broken, read again document by
// document, so every other document is still found.
func Read(file string, data []byte) ([]Object, []error) {
	if objs, ok := skimAll(file, data); ok {
		return objs, nil
	}
	return readFull(file, data)
}

// skimAll reads a file through skim when every document of it is one
// skim reads, and its separators are bare "---" lines; ok false: the file
// is for yaml.v3.
func skimAll(file string, data []byte) ([]Object, bool) {
	docs := split(data)
	objs := make([]Object, 0, len(docs))
	var s skimmer
	for _, doc := range docs {
		if doc.separatorTail {
			return nil, false
		}
		o, empty, ok := s.skim(file, doc)
		if !ok {
			return nil, false
		}
		if !empty {
			objs = append(objs, o)
		}
	}
	if len(objs) == 0 {
		return nil, true // as yaml.v3's reading answers
	}
	return objs, true
}

// readFull reads a file with yaml.v3, as Read does when skim cannot.
func readFull(file string, data []byte) ([]Object, []error) {
	if objs, errs, ok := readStream(file, data); ok {
		return objs, errs
	}
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

// readStream reads every document with one decoder; ok is false when the
// YAML does not parse.
func readStream(file string, data []byte) (objs []Object, errs []error, ok bool) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var root yaml.Node
		err := dec.Decode(&root)
		if errors.Is(err, io.EOF) {
			return objs, errs, true
		}
		if err != nil {
			return nil, nil, false
		}
		o, err := readRoot(file, 1, &root)
		objs = append(objs, o...)
		if err != nil {
			errs = append(errs, err)
		}
	}
}

type document struct {
	start int // 1-based line of the document's first line
	data  []byte
	// separatorTail: the "---" line before it goes on ("--- {a: 1}",
	// "--- !tag"), which data does not hold.
	separatorTail bool
}

// split cuts a YAML stream at its "---" lines (and "..." ends), keeping
// each document's first line number. The documents share data's memory.
// JSON has no separators and stays whole.
func split(data []byte) []document {
	var docs []document
	cur := document{start: 1}
	from, line := 0, 0
	for pos := 0; pos < len(data); {
		raw, next := lineAt(data, pos)
		line++
		text := bytes.TrimSuffix(raw, []byte("\r"))
		if isSeparator(text) {
			cur.data = data[from:pos]
			docs = append(docs, cur)
			cur = document{start: line + 1, separatorTail: len(bytes.TrimRight(text, " ")) > 3}
			from = next
		}
		pos = next
	}
	cur.data = data[from:]
	return append(docs, cur)
}

// lineAt is the line of data starting at pos, without its newline, and
// where the next line starts.
func lineAt(data []byte, pos int) (line []byte, next int) {
	end := bytes.IndexByte(data[pos:], '\n')
	if end < 0 {
		return data[pos:], len(data)
	}
	return data[pos : pos+end], pos + end + 1
}

// isSeparator matches "---", "--- anything" (a space or tab after the
// dashes) and "...".
func isSeparator(line []byte) bool {
	if string(line) == "..." {
		return true
	}
	if !bytes.HasPrefix(line, []byte("---")) {
		return false
	}
	return len(line) == 3 || line[3] == ' ' || line[3] == '\t'
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
	return readRoot(file, doc.start, &root)
}

// readRoot reads the objects of one parsed document whose first line is
// start.
func readRoot(file string, start int, root *yaml.Node) ([]Object, error) {
	if root.Kind == 0 || len(root.Content) == 0 {
		return nil, nil // only comments
	}
	node := root.Content[0]
	if node.Kind == yaml.ScalarNode && node.Tag == "!!null" {
		return nil, nil // an empty document
	}
	if node.Kind != yaml.MappingNode {
		return nil, &ParseError{File: file, Line: start + node.Line - 1, Msg: "not a Kubernetes object: the document is not a mapping", NotObject: true}
	}
	if k := duplicateKey(node); k != nil {
		return nil, &ParseError{File: file, Line: start + k.Line - 1, Msg: fmt.Sprintf("cannot decode: mapping key %q already defined", k.Value)}
	}
	obj, err := toObject(file, start+node.Line-1, node)
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
		line := start + item.Line - 1
		if item.Kind != yaml.MappingNode {
			errs = append(errs, &ParseError{File: file, Line: line, Msg: "a list item is not a mapping"})
			continue
		}
		o, err := toObject(file, line, item)
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

// toObject reads the fields a scan needs from a mapping node, without
// decoding the rest of the object.
func toObject(file string, line int, node *yaml.Node) (Object, error) {
	o := Object{File: file, Line: line}
	var meta, rules *yaml.Node
	for i := 0; i+1 < len(node.Content); i += 2 {
		k, v := node.Content[i], node.Content[i+1]
		switch k.Value {
		case "apiVersion":
			o.APIVersion = scalar(v)
		case "kind":
			o.Kind = scalar(v)
		case "metadata":
			meta = v
		case "rules":
			rules = v
		}
	}
	if rules != nil && (o.Kind == "Role" || o.Kind == "ClusterRole") && strings.HasPrefix(o.APIVersion, "rbac.authorization.k8s.io/") {
		o.Rules = rbacRules(line-node.Line, rules)
	}
	switch {
	case o.Kind == "":
		// No kind: Chart.yaml (apiVersion v2), values.yaml, plain data.
		return Object{}, &ParseError{File: file, Line: line, Msg: "not a Kubernetes object (no kind)", NotObject: true}
	case o.APIVersion == "":
		// A kind without apiVersion looks like an object written wrong.
		return Object{}, &ParseError{File: file, Line: line, Msg: "kind " + o.Kind + " without apiVersion"}
	}
	if meta != nil && meta.Kind == yaml.MappingNode {
		var generateName string
		for i := 0; i+1 < len(meta.Content); i += 2 {
			switch v := meta.Content[i+1]; meta.Content[i].Value {
			case "name":
				o.Name = scalar(v)
			case "namespace":
				o.Namespace = scalar(v)
			case "generateName":
				generateName = scalar(v)
			}
		}
		if o.Name == "" {
			o.Name = generateName
		}
	}
	return o, nil
}

// duplicateKey finds a key given twice in one mapping, anywhere in the
// document (YAML forbids it; kubectl refuses such a file). Small mappings,
// the usual case, are checked without allocating.
func duplicateKey(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.MappingNode {
		keys := len(n.Content) / 2
		var seen map[string]bool
		if keys > 16 {
			seen = make(map[string]bool, keys)
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind == yaml.ScalarNode && k.Value != "<<" {
				if seen != nil {
					if seen[k.Value] {
						return k
					}
					seen[k.Value] = true
				} else {
					for j := 0; j < i; j += 2 {
						if prev := n.Content[j]; prev.Kind == yaml.ScalarNode && prev.Value == k.Value {
							return k
						}
					}
				}
			}
		}
	}
	for _, c := range n.Content {
		if d := duplicateKey(c); d != nil {
			return d
		}
	}
	return nil
}

// scalar is a node's value when it is a string scalar (as a decode into a
// string-typed field would take it), else "".
func scalar(n *yaml.Node) string {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind != yaml.ScalarNode || (n.Tag != "" && n.Tag != "!!str" && n.ShortTag() != "!!str") {
		return ""
	}
	return n.Value
}

// ChartReader reads a Helm chart (a folder holding Chart.yaml, or a
// packaged .tgz) as the objects it renders to.
type ChartReader func(path string) ([]Object, []error)

// ReadPaths reads files and folders (recursively: .yaml, .yml and .json
// files); "-" reads stdin. Unreadable paths are errors; the rest goes on.
// With charts, a folder holding Chart.yaml and a .tgz named as a path are
// read by it, whole; without, their files are read as plain YAML.
func ReadPaths(paths []string, stdin io.Reader, charts ChartReader) ([]Object, []error) {
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
		if !st.IsDir() && charts != nil && strings.HasSuffix(p, ".tgz") {
			add(charts(p))
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
		var files, chartDirs []string
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && strings.HasPrefix(d.Name(), ".") && path != p {
				return filepath.SkipDir
			}
			if d.IsDir() && charts != nil && isChart(path) {
				chartDirs = append(chartDirs, path)
				return filepath.SkipDir // its subcharts are the chart's
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
		results := readFiles(files)
		n := 0
		for _, r := range results {
			n += len(r.objs)
		}
		objs = slices.Grow(objs, n)
		for _, r := range results {
			add(r.objs, r.errs)
		}
		for _, dir := range chartDirs {
			add(charts(dir))
		}
	}
	return objs, errs
}

// isChart reports whether dir holds a Chart.yaml.
func isChart(dir string) bool {
	st, err := os.Stat(filepath.Join(dir, "Chart.yaml"))
	return err == nil && !st.IsDir()
}

type fileResult struct {
	objs []Object
	errs []error
}

// readFiles reads and parses files on every CPU; the results keep the
// files' order.
func readFiles(files []string) []fileResult {
	out := make([]fileResult, len(files))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(files)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// One buffer per worker: what Read returns holds copies,
			// never the file's bytes.
			var buf bytes.Buffer
			for i := range next {
				buf.Reset()
				if err := readInto(&buf, files[i]); err != nil {
					out[i].errs = []error{err}
					continue
				}
				out[i].objs, out[i].errs = Read(files[i], buf.Bytes())
			}
		}()
	}
	for i := range files {
		next <- i
	}
	close(next)
	wg.Wait()
	return out
}

// readInto reads a file into buf.
func readInto(buf *bytes.Buffer, file string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = buf.ReadFrom(f)
	return err
}

// rbacRules reads the apiGroups and resources of a Role's rules; offset
// turns a node's line into the file's.
func rbacRules(offset int, seq *yaml.Node) []Rule {
	if seq.Kind != yaml.SequenceNode {
		return nil
	}
	var out []Rule
	for _, item := range seq.Content {
		if item.Kind != yaml.MappingNode {
			continue
		}
		r := Rule{Line: offset + item.Line}
		for i := 0; i+1 < len(item.Content); i += 2 {
			var into *[]string
			switch item.Content[i].Value {
			case "apiGroups":
				into = &r.APIGroups
			case "resources":
				into = &r.Resources
			default:
				continue
			}
			if v := item.Content[i+1]; v.Kind == yaml.SequenceNode {
				for _, s := range v.Content {
					*into = append(*into, scalar(s))
				}
			}
		}
		out = append(out, r)
	}
	return out
}
