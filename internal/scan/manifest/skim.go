package manifest

import (
	"bytes"
	"strings"
)

// skim reads the fields a scan needs (apiVersion, kind, metadata's name,
// namespace and generateName, and the line) from one document without
// building a YAML tree, for the documents that are written the way nearly
// every manifest is: block mappings and sequences indented with spaces,
// keys of plain letters, digits and ._/-, values that are plain or quoted
// scalars on one line, one-line flow collections of the same, and block
// scalars.
//
// It is a recognizer of that subset, not a YAML parser: whatever it does
// not recognize — tabs, anchors, aliases, tags, multi-line plain or quoted
// scalars, quoted or complex keys, escapes, a duplicate key, any
// indentation it cannot place, a field whose value YAML would not read as
// a string, Lists, RBAC roles, anything not ASCII — makes it give up
// (ok false), and the document is read by yaml.v3 as before. So a
// document skim accepts is one yaml.v3 reads to the same object, which
// FuzzSkim checks against yaml.v3 on every input it tries. yaml.v3 has no
// cheaper mode to reuse: it builds the whole tree of every document, which
// was half of a scan's CPU.
//
// A document of blanks and comments only is ok with no object (empty).
//
// The skimmer's buffers are reused from one document to the next.
func (s *skimmer) skim(file string, doc document) (o Object, empty, ok bool) {
	*s = skimmer{data: doc.data, frames: s.frames[:0]}
	if !s.run() {
		return Object{}, false, false
	}
	if s.firstLine == 0 {
		return Object{}, true, true
	}
	if s.apiVersion == "" || s.kind == "" {
		return Object{}, false, false
	}
	switch {
	case s.kind == "Role" || s.kind == "ClusterRole" || strings.HasSuffix(s.kind, "List"):
		return Object{}, false, false // rules and items: yaml.v3 reads them
	}
	name := s.name
	if name == "" {
		name = s.generateName
	}
	return Object{APIVersion: s.apiVersion, Kind: s.kind, Name: name, Namespace: s.namespace, File: file, Line: doc.start + s.firstLine - 1}, false, true
}

// maxKeys bounds a mapping skim checks for duplicates key by key;
// larger ones are yaml.v3's.
const maxKeys = 256

type frameKind uint8

const (
	mappingFrame frameKind = iota
	sequenceFrame
)

// frame is one open block collection.
type frame struct {
	indent int
	kind   frameKind
	// compact: a sequence at its parent key's own indent ("key:\n- a").
	compact bool
	// metadata: the root's metadata mapping.
	metadata bool
	keys     [][]byte // a mapping's keys so far, for duplicates
}

type skimmer struct {
	data      []byte
	line      int // 1-based line within the document
	firstLine int
	frames    []frame
	// pending: the last key or item had no value on its line; a deeper
	// block (or a compact sequence) may follow. pendingIndent is the
	// indent of what owns it; pendingMeta says it is the root's metadata.
	pending       bool
	pendingIndent int
	pendingMeta   bool
	pendingKeyed  bool // a mapping key (may take a compact sequence)

	apiVersion, kind, name, namespace, generateName string
}

// run reads every line; false: not the subset.
func (s *skimmer) run() bool {
	data := s.data
	for pos := 0; pos < len(data); {
		var line []byte
		line, pos = lineAt(data, pos)
		s.line++
		indent := 0
		for indent < len(line) && line[indent] == ' ' {
			indent++
		}
		for _, c := range line {
			if c < 0x20 || c > 0x7e {
				return false // tabs, CR, control characters, non-ASCII
			}
		}
		content := line[indent:]
		if len(content) == 0 || content[0] == '#' {
			continue // blank or comment
		}
		if s.firstLine == 0 {
			if indent != 0 {
				return false
			}
			s.firstLine = s.line
		}
		n, ok := s.node(indent, content, data[pos:])
		if !ok {
			return false
		}
		pos += n
	}
	return true
}

// node places one content line; rest is what follows it, of which a block
// scalar's lines are consumed (n bytes).
func (s *skimmer) node(indent int, content, rest []byte) (int, bool) {
	item := isItem(content)
	if len(s.frames) > 64 {
		return 0, false // deeper than manifests go: yaml.v3 has its own limits
	}
	if s.pending {
		s.pending = false
		switch {
		case indent > s.pendingIndent:
			kind := mappingFrame
			if item {
				kind = sequenceFrame
			}
			s.push(frame{indent: indent, kind: kind, metadata: s.pendingMeta && !item})
		case indent == s.pendingIndent && item && s.pendingKeyed:
			s.push(frame{indent: indent, kind: sequenceFrame, compact: true})
		}
	}
	if len(s.frames) == 0 {
		if indent != 0 || item {
			return 0, false
		}
		s.push(frame{indent: 0, kind: mappingFrame})
	}
	for len(s.frames) > 0 {
		top := &s.frames[len(s.frames)-1]
		if top.indent > indent || (top.indent == indent && top.compact && !item) {
			s.frames = s.frames[:len(s.frames)-1]
			continue
		}
		break
	}
	if len(s.frames) == 0 {
		return 0, false
	}
	top := &s.frames[len(s.frames)-1]
	if top.indent != indent {
		return 0, false // deeper than any open block: a continuation or an error
	}
	if top.kind == sequenceFrame {
		if !item {
			return 0, false
		}
		return s.item(indent, content, rest)
	}
	if item {
		return 0, false
	}
	return s.entry(indent, content, rest)
}

// push opens a block, reusing the keys buffer of a frame closed before.
func (s *skimmer) push(f frame) {
	if n := len(s.frames); n < cap(s.frames) {
		f.keys = s.frames[:n+1][n].keys[:0]
	}
	s.frames = append(s.frames, f)
}

func isItem(content []byte) bool {
	return content[0] == '-' && (len(content) == 1 || content[1] == ' ')
}

// item reads "- ...": a scalar or flow value, a mapping's first key, or
// nothing (a block follows).
func (s *skimmer) item(indent int, content, rest []byte) (int, bool) {
	i := 1
	for i < len(content) && content[i] == ' ' {
		i++
	}
	v := content[i:]
	if len(v) == 0 || v[0] == '#' {
		s.pending, s.pendingIndent, s.pendingMeta, s.pendingKeyed = true, indent, false, false
		return 0, true
	}
	if isItem(v) {
		return 0, false // "- - a": nested sequences
	}
	if _, _, ok := splitKey(v); ok {
		s.push(frame{indent: indent + i, kind: mappingFrame})
		return s.entry(indent+i, v, rest)
	}
	return s.value(indent, v, rest)
}

// entry reads "key: value" in the mapping on top of the stack.
func (s *skimmer) entry(indent int, content, rest []byte) (int, bool) {
	key, v, ok := splitKey(content)
	if !ok {
		return 0, false
	}
	top := &s.frames[len(s.frames)-1]
	if len(top.keys) > maxKeys {
		return 0, false // the duplicate check would grow quadratic
	}
	for _, k := range top.keys {
		if bytes.Equal(k, key) {
			return 0, false // yaml.v3 words the error
		}
	}
	top.keys = append(top.keys, key)
	root := len(s.frames) == 1
	if len(v) == 0 || v[0] == '#' {
		s.pending, s.pendingIndent, s.pendingKeyed = true, indent, true
		s.pendingMeta = root && string(key) == "metadata"
		return 0, true
	}
	var field *string
	switch {
	case root:
		switch string(key) {
		case "apiVersion":
			field = &s.apiVersion
		case "kind":
			field = &s.kind
		case "metadata", "items", "rules":
			return 0, false // not a block: yaml.v3 reads it
		}
	case top.metadata && len(s.frames) == 2:
		switch string(key) {
		case "name":
			field = &s.name
		case "namespace":
			field = &s.namespace
		case "generateName":
			field = &s.generateName
		}
	}
	if field != nil {
		str, ok := stringScalar(v)
		if !ok {
			return 0, false
		}
		*field = str
		return 0, true
	}
	return s.value(indent, v, rest)
}

// splitKey cuts "key: value" or "key:" where key is plain letters,
// digits and ._/-; value keeps its comment.
func splitKey(content []byte) (key, value []byte, ok bool) {
	i := 0
	for i < len(content) && isKeyByte(content[i]) {
		i++
	}
	if i == 0 || i >= len(content) || content[i] != ':' || content[0] == '-' {
		return nil, nil, false
	}
	if i+1 < len(content) && content[i+1] != ' ' {
		return nil, nil, false
	}
	v := content[i+1:]
	for len(v) > 0 && v[0] == ' ' {
		v = v[1:]
	}
	return content[:i], v, true
}

func isKeyByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '/' || c == '-'
}

// value checks a value that is not one of the fields read: a plain or
// quoted scalar on its line, a one-line flow collection, or a block
// scalar whose lines it consumes from rest.
func (s *skimmer) value(indent int, v, rest []byte) (int, bool) {
	switch v[0] {
	case '|', '>':
		return s.blockScalar(indent, v, rest)
	case '{', '[':
		n, ok := flow(v, 0)
		return 0, ok && trailing(v[n:])
	case '"', '\'':
		n, ok := quoted(v)
		return 0, ok && trailing(v[n:])
	}
	return 0, plain(v)
}

// blockScalar consumes the lines of "|", "|-", ">" and the like: blank
// lines and lines deeper than the owner's indent. Indentation indicators,
// and leading blank lines holding spaces, are left to yaml.v3.
func (s *skimmer) blockScalar(owner int, header, rest []byte) (int, bool) {
	h := header[1:]
	if len(h) > 0 && (h[0] == '-' || h[0] == '+') {
		h = h[1:]
	}
	if !trailing(h) {
		return 0, false
	}
	contentIndent := -1
	pos := 0
	for pos < len(rest) {
		line, next := lineAt(rest, pos)
		indent := 0
		for indent < len(line) && line[indent] == ' ' {
			indent++
		}
		if indent == len(line) { // blank
			if contentIndent < 0 && indent > 0 {
				return 0, false
			}
			s.line++
			pos = next
			continue
		}
		if contentIndent < 0 {
			if indent <= owner {
				break
			}
			contentIndent = indent
		}
		if indent < contentIndent {
			if indent > owner {
				return 0, false // less indented than the scalar, deeper than its owner
			}
			break
		}
		for _, c := range line {
			if c < 0x20 || c > 0x7e {
				return 0, false
			}
		}
		s.line++
		pos = next
	}
	// Trailing blank lines belong to the scalar; the lines after it are
	// the caller's. Give back the blank lines at the end so that line
	// numbers stay right: they are blank either way.
	return pos, true
}

// trailing accepts what may follow a value on its line: spaces, then a
// comment after at least one space.
func trailing(b []byte) bool {
	i := 0
	for i < len(b) && b[i] == ' ' {
		i++
	}
	return i == len(b) || (i > 0 && b[i] == '#')
}

// plain accepts a plain scalar on one line: it does not start with an
// indicator, holds no ": " and does not end in ":" (YAML would read a
// mapping there), and a " #" starts its comment.
func plain(v []byte) bool {
	switch c := v[0]; {
	case c == '-' && len(v) > 1 && v[1] != ' ': // --port=8080, -1
	case bytes.IndexByte([]byte("-?:,[]{}#&*!|>'\"%@`"), c) >= 0:
		return false
	}
	if i := bytes.Index(v, []byte(" #")); i >= 0 {
		v = v[:i]
	}
	v = bytes.TrimRight(v, " ")
	return len(v) > 0 && !bytes.Contains(v, []byte(": ")) && v[len(v)-1] != ':'
}

// quoted measures a quoted scalar closed on its line: "..." without
// escapes, or '...' with ” for a quote.
func quoted(v []byte) (int, bool) {
	q := v[0]
	for i := 1; i < len(v); i++ {
		switch {
		case q == '"' && v[i] == '\\':
			return 0, false
		case v[i] == q && q == '\'' && i+1 < len(v) && v[i+1] == '\'':
			i++
		case v[i] == q:
			return i + 1, true
		}
	}
	return 0, false
}

// stringScalar reads a field's value as a string, as yaml.v3 would: a
// quoted scalar, or a plain one of letters, digits and ._/- starting with
// a letter that YAML does not read as a boolean or null.
func stringScalar(v []byte) (string, bool) {
	if v[0] == '"' || v[0] == '\'' {
		n, ok := quoted(v)
		if !ok || !trailing(v[n:]) {
			return "", false
		}
		inner := v[1 : n-1]
		if v[0] == '\'' {
			inner = bytes.ReplaceAll(inner, []byte("''"), []byte("'"))
		}
		return string(inner), true
	}
	n := 0
	for n < len(v) && isKeyByte(v[n]) {
		n++
	}
	if n == 0 || !trailing(v[n:]) || !(v[0] >= 'a' && v[0] <= 'z' || v[0] >= 'A' && v[0] <= 'Z') {
		return "", false
	}
	word := v[:n]
	for _, special := range []string{"true", "false", "null"} {
		if bytes.EqualFold(word, []byte(special)) {
			return "", false
		}
	}
	return string(word), true
}

// flow measures a one-line flow collection from v[0] ('{' or '['):
// items that are plain words, quoted scalars or flow collections, and in
// a mapping "key: value" pairs with distinct plain keys.
func flow(v []byte, depth int) (int, bool) {
	if depth > 8 {
		return 0, false
	}
	closing, mapping := byte(']'), v[0] == '{'
	if mapping {
		closing = '}'
	}
	var keysBuf [8][]byte
	keys := keysBuf[:0]
	i := 1
	skipSpaces := func() {
		for i < len(v) && v[i] == ' ' {
			i++
		}
	}
	skipSpaces()
	if i < len(v) && v[i] == closing {
		return i + 1, true
	}
	for {
		skipSpaces()
		if mapping {
			start := i
			for i < len(v) && isKeyByte(v[i]) {
				i++
			}
			if i == start || i+1 >= len(v) || v[i] != ':' || v[i+1] != ' ' {
				return 0, false
			}
			key := v[start:i]
			if len(keys) > maxKeys {
				return 0, false
			}
			for _, k := range keys {
				if bytes.Equal(k, key) {
					return 0, false
				}
			}
			keys = append(keys, key)
			i += 2
			skipSpaces()
		}
		if i >= len(v) {
			return 0, false
		}
		switch v[i] {
		case '{', '[':
			n, ok := flow(v[i:], depth+1)
			if !ok {
				return 0, false
			}
			i += n
		case '"', '\'':
			n, ok := quoted(v[i:])
			if !ok {
				return 0, false
			}
			i += n
		default:
			start := i
			for i < len(v) && isFlowWordByte(v[i]) {
				i++
			}
			if i == start || bytes.IndexByte([]byte("-?:"), v[start]) >= 0 {
				return 0, false
			}
		}
		skipSpaces()
		if i >= len(v) {
			return 0, false
		}
		switch v[i] {
		case ',':
			i++
			skipSpaces()
			if i < len(v) && v[i] == closing {
				return 0, false // a trailing comma: left to yaml.v3
			}
		case closing:
			return i + 1, true
		default:
			return 0, false
		}
	}
}

// isFlowWordByte: what a plain word inside a flow collection may hold
// here: letters, digits and ._/- (no spaces, no indicators).
func isFlowWordByte(c byte) bool { return isKeyByte(c) }
