package hubstore

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"upshift.dev/upshift/internal/store"
)

// A run's audit trail is a series of ConfigMaps it owns — <run>-audit,
// then <run>-audit-1, -2, … — each holding events under keys that number
// them across the series, and none over auditChunkBytes (a ConfigMap
// holds at most 1 MiB). A run over a thousand clusters records tens of
// thousands of events: appending to one object would outgrow it, and
// rewrite all of it for every event.
const auditChunkBytes = 512 << 10

func eventKey(i int) string { return fmt.Sprintf("%09d", i) }

func chunkName(run string, chunk int) string {
	if chunk == 0 {
		return run + "-audit"
	}
	return run + "-audit-" + strconv.Itoa(chunk)
}

// auditLog is a run's audit trail as this process appends to it. Appends
// are group-committed: events recorded while a write is under way all go
// out in the next one, and Audit returns once a write holding its event
// is done.
type auditLog struct {
	mu      sync.Mutex // guards pending, queued
	pending []string
	queued  uint64

	flushMu sync.Mutex // one write at a time; guards the rest
	flushed uint64
	failed  []failedRange
	tail    *corev1.ConfigMap // the last chunk as last written or read
	chunk   int
	next    int // the number of the next event
	size    int // bytes in tail's data
	known   *knownChunk
}

// knownChunk is the last chunk read that exists, and how many events the
// chunks before it hold.
type knownChunk struct {
	chunk, before int
}

// failedRange says the events numbered (from, to] were not written.
type failedRange struct {
	from, to uint64
	err      error
}

func (s *Store) auditLog(name string) *auditLog {
	l, _ := s.audits.LoadOrStore(name, &auditLog{})
	return l.(*auditLog)
}

// Audit appends an event to the run's audit trail.
func (s *Store) Audit(name string, e store.Event) error {
	if s.Scrub != nil {
		e.Message = s.Scrub(e.Message)
	}
	line, err := json.Marshal(e)
	if err != nil {
		return err
	}
	l := s.auditLog(name)
	l.mu.Lock()
	l.pending = append(l.pending, string(line))
	l.queued++
	mine := l.queued
	l.mu.Unlock()

	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	if l.flushed >= mine {
		for _, f := range l.failed {
			if mine > f.from && mine <= f.to {
				return f.err
			}
		}
		return nil
	}
	l.mu.Lock()
	batch, from, upTo := l.pending, l.flushed, l.queued
	l.pending = nil
	l.mu.Unlock()
	ctx, cancel := s.ctx()
	defer cancel()
	err = s.appendEvents(ctx, name, l, batch)
	l.flushed = upTo
	if err != nil {
		l.failed = append(l.failed, failedRange{from: from, to: upTo, err: err})
		if len(l.failed) > 16 {
			l.failed = l.failed[1:]
		}
	}
	return err
}

// appendEvents writes lines to the end of the trail: each written chunk is
// one request with no read before it, unless someone else wrote the trail
// since (an approver's audit line), which reads it again.
func (s *Store) appendEvents(ctx context.Context, name string, l *auditLog, lines []string) error {
	for attempt := 0; len(lines) > 0; attempt++ {
		if l.tail == nil {
			if err := s.loadTail(ctx, name, l); err != nil {
				return err
			}
		}
		written, err := s.writeTail(ctx, name, l, lines)
		lines = lines[written:]
		if err == nil {
			continue
		}
		l.tail = nil // read again: someone else wrote, or the write failed
		if !apierrors.IsConflict(err) && !apierrors.IsAlreadyExists(err) {
			return err
		}
		// Another writer got there first: let it finish, then read again,
		// until the call's deadline.
		wait := time.Duration(rand.Int64N(int64(5*time.Millisecond) * int64(min(attempt+1, 10))))
		select {
		case <-ctx.Done():
			return fmt.Errorf("appending to the audit trail of run %s: %w (last: %w)", name, ctx.Err(), err)
		case <-time.After(wait):
		}
	}
	return nil
}

// writeTail adds lines to the tail chunk, starting a new chunk when it is
// full, and writes it; it returns how many lines were written.
func (s *Store) writeTail(ctx context.Context, name string, l *auditLog, lines []string) (int, error) {
	cm := l.tail.DeepCopy()
	if cm.Data == nil {
		cm.Data = map[string]string{}
	}
	n, size, next := 0, l.size, l.next
	for _, line := range lines {
		if size+len(line) > auditChunkBytes && len(cm.Data) > 0 {
			break
		}
		cm.Data[eventKey(next)] = line
		size += len(line)
		next++
		n++
	}
	if n == 0 {
		// The chunk is full: the lines go to a new one.
		return 0, s.startChunk(ctx, name, l, l.chunk+1)
	}
	var err error
	if cm.ResourceVersion == "" {
		err = s.Client.Create(ctx, cm)
	} else {
		err = s.Client.Update(ctx, cm)
	}
	if err != nil {
		return 0, err
	}
	l.tail, l.size, l.next = cm, size, next
	if n < len(lines) {
		// The chunk is full: the rest go to a new one.
		if err := s.startChunk(ctx, name, l, l.chunk+1); err != nil {
			return n, err
		}
	}
	return n, nil
}

// startChunk makes chunk the tail, not yet created.
func (s *Store) startChunk(ctx context.Context, name string, l *auditLog, chunk int) error {
	cm, err := s.owned(ctx, name, chunkName(name, chunk)[len(name):])
	if err != nil {
		return err
	}
	l.tail, l.chunk, l.size = cm, chunk, 0
	return nil
}

// loadTail finds the last chunk of the trail and the next event's number.
// Chunks are only ever added: a reload starts at the tail it last knew,
// the events before it counted once.
func (s *Store) loadTail(ctx context.Context, name string, l *auditLog) error {
	first, events := 0, 0
	if l.known != nil && l.known.chunk <= l.chunk {
		first, events = l.known.chunk, l.known.before
	}
	for chunk := first; ; chunk++ {
		cm := &corev1.ConfigMap{}
		err := s.Client.Get(ctx, s.key(chunkName(name, chunk)), cm)
		if apierrors.IsNotFound(err) {
			if chunk == first {
				l.next = events
				return s.startChunk(ctx, name, l, chunk)
			}
			return nil
		}
		if err != nil {
			return err
		}
		size := 0
		for _, v := range cm.Data {
			size += len(v)
		}
		l.known = &knownChunk{chunk: chunk, before: events}
		events += len(cm.Data)
		l.tail, l.chunk, l.size, l.next = cm, chunk, size, events
	}
}

// Events reads the audit trail in order.
func (s *Store) Events(name string) ([]store.Event, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	data := map[string]string{}
	for chunk := 0; ; chunk++ {
		cm := &corev1.ConfigMap{}
		err := s.Client.Get(ctx, s.key(chunkName(name, chunk)), cm)
		if apierrors.IsNotFound(err) {
			break
		}
		if err != nil {
			return nil, err
		}
		for k, v := range cm.Data {
			data[k] = v
		}
	}
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]store.Event, 0, len(keys))
	for _, k := range keys {
		var e store.Event
		if err := json.Unmarshal([]byte(data[k]), &e); err != nil {
			return out, fmt.Errorf("audit event %s of run %s: %w", k, name, err)
		}
		out = append(out, e)
	}
	return out, nil
}
