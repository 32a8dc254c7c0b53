package registry

import (
	"slices"
	"sync"
)

// Registry maps names to values of one kind.
type Registry[T any] struct {
	kind  string // what the entries are, for the panic message
	mu    sync.Mutex
	items map[string]T
}

// New returns an empty registry of entries of kind (e.g. "method").
func New[T any](kind string) *Registry[T] {
	return &Registry[T]{kind: kind, items: map[string]T{}}
}

// Register adds an entry; a name given twice panics.
func (r *Registry[T]) Register(name string, v T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.items[name]; dup {
		panic(r.kind + " " + name + " registered twice")
	}
	r.items[name] = v
}

// Get finds an entry.
func (r *Registry[T]) Get(name string) (T, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.items[name]
	return v, ok
}

// Names lists the registered names, sorted.
func (r *Registry[T]) Names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for n := range r.items {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}
