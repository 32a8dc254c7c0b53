package store

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"sigs.k8s.io/yaml"

	"upshift.dev/upshift/api/v1alpha1"
	"upshift.dev/upshift/internal/atomicfile"
	"upshift.dev/upshift/internal/filelock"
	"upshift.dev/upshift/internal/names"
)

// Store is a state directory of runs.
type Store struct {
	Dir string
}

// ErrNotFound says that no run has the name.
var ErrNotFound = errors.New("no such update run")

// ErrExists says that a run of the name is stored already.
var ErrExists = errors.New("already exists")

// ExistsError is the error of creating a run whose name is taken; it
// says how to go on.
func ExistsError(name string) error {
	return fmt.Errorf("update run %s %w: resume it with `upshift resume %s`, delete it to start it anew after fixing it (`upshift delete %s`; on a hub, delete the UpdateRun object), or pick another metadata.name", name, ErrExists, name, name)
}

// ErrCancelled says that a run was cancelled: it cannot be driven again.
var ErrCancelled = errors.New("was cancelled and cannot be resumed")

// ErrLocked says that another process drives the run.
var ErrLocked = errors.New("another upshift process is driving this run")

func (s *Store) runDir(name string) string { return filepath.Join(s.Dir, "runs", name) }

func (s *Store) path(name, file string) string { return filepath.Join(s.runDir(name), file) }

func checkName(name string) error { return names.Subdomain("run", name) }

// Create stores a new run. A run of the same name must not exist.
func (s *Store) Create(run *v1alpha1.UpdateRun) error {
	if err := checkName(run.Name); err != nil {
		return err
	}
	runs := filepath.Join(s.Dir, "runs")
	if err := os.MkdirAll(runs, 0o700); err != nil {
		return err
	}
	// The run's folder appears whole, its spec inside, or not at all: a
	// process killed while creating it leaves a hidden folder, not an
	// empty run folder that Get cannot read and Create refuses. An empty
	// one, as such a kill left before, is taken over.
	tmp, err := os.MkdirTemp(runs, "."+run.Name+".creating-")
	if err != nil {
		return err
	}
	spec := *run
	spec.Status = v1alpha1.UpdateRunStatus{}
	err = writeSpec(filepath.Join(tmp, "run.yaml"), &spec)
	if err == nil {
		err = os.Rename(tmp, s.runDir(run.Name))
		if errors.Is(err, os.ErrExist) && os.Remove(s.runDir(run.Name)) == nil { // only an empty folder goes
			err = os.Rename(tmp, s.runDir(run.Name))
		}
	}
	if err != nil {
		_ = os.RemoveAll(tmp)
		if errors.Is(err, os.ErrExist) || errors.Is(err, syscall.ENOTEMPTY) {
			return ExistsError(run.Name)
		}
		return err
	}
	return nil
}

// SaveFleet freezes the fleet a run started with.
func (s *Store) SaveFleet(name string, data []byte) error {
	if err := checkName(name); err != nil {
		return err
	}
	return writeAtomic(s.path(name, "fleet.yaml"), data)
}

// Fleet returns the fleet a run started with.
func (s *Store) Fleet(name string) ([]byte, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	return os.ReadFile(s.path(name, "fleet.yaml"))
}

// SaveSpec writes the run as submitted (its spec).
func (s *Store) SaveSpec(run *v1alpha1.UpdateRun) error {
	return writeSpec(s.path(run.Name, "run.yaml"), run)
}

// writeSpec writes a run's run.yaml at path, atomically.
func writeSpec(path string, run *v1alpha1.UpdateRun) error {
	data, err := yaml.Marshal(run)
	if err != nil {
		return err
	}
	return writeAtomic(path, data)
}

// CorruptError is a run whose files cannot be read whole: a run.yaml or
// status.json damaged on disk or edited by hand. Get returns it with what
// it could read (the spec, and the previous status when there is one), so
// the run stays manageable.
type CorruptError struct {
	Run  string
	File string // the path of the bad file
	Err  error
	// Recovered says the run carries the status written before the bad
	// one (status.prev.json): one write older, which idempotent steps
	// replay safely; `upshift resume` goes on from it.
	Recovered bool
}

func (e *CorruptError) Error() string {
	if e.Recovered {
		return fmt.Sprintf("run %s: %s cannot be read (%v); shown from the status written before it: `upshift resume %s` goes on from there and rewrites it", e.Run, e.File, e.Err, e.Run)
	}
	return fmt.Sprintf("run %s: %s cannot be read (%v), and there is no earlier status to go on from: restore the file, or start a new run", e.Run, e.File, e.Err)
}

func (e *CorruptError) Unwrap() error { return e.Err }

// Get reads a run with its status. A status that cannot be read gives the
// run without it and a *CorruptError.
func (s *Store) Get(name string) (*v1alpha1.UpdateRun, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(s.path(name, "run.yaml"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w %q: `upshift history` lists the runs there are", ErrNotFound, name)
	}
	if err != nil {
		return nil, err
	}
	var run v1alpha1.UpdateRun
	if err := yaml.Unmarshal(data, &run); err != nil {
		return nil, &CorruptError{Run: name, File: s.path(name, "run.yaml"), Err: err}
	}
	status, err := os.ReadFile(s.path(name, "status.json"))
	if err == nil {
		var st v1alpha1.UpdateRunStatus
		if err := json.Unmarshal(status, &st); err != nil {
			corrupt := &CorruptError{Run: name, File: s.path(name, "status.json"), Err: err}
			if prev, perr := os.ReadFile(s.path(name, "status.prev.json")); perr == nil && json.Unmarshal(prev, &run.Status) == nil {
				corrupt.Recovered = true
			}
			return &run, corrupt
		}
		run.Status = st
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	return &run, nil
}

// statusOnly says err is a status that cannot be read while the spec
// could: enough for requests that change only the spec or add a line.
func statusOnly(err error, run *v1alpha1.UpdateRun) bool {
	var corrupt *CorruptError
	return errors.As(err, &corrupt) && run != nil && filepath.Base(corrupt.File) == "status.json"
}

// PhaseUnreadable marks, in List, a run whose files cannot be read.
const PhaseUnreadable = "Unreadable"

// SaveStatus writes a run's status.
func (s *Store) SaveStatus(name string, status *v1alpha1.UpdateRunStatus) error {
	if err := checkName(name); err != nil {
		return err
	}
	data, err := json.MarshalIndent(status, "", "  ")
	if err != nil {
		return err
	}
	// The status being replaced stays as status.prev.json (a hard link, no
	// copy): if status.json is ever found unreadable, the run goes on from
	// the one before, which every idempotent step can replay.
	cur, prev := s.path(name, "status.json"), s.path(name, "status.prev.json")
	if _, err := os.Stat(cur); err == nil && readableStatus(cur) {
		tmp := prev + ".tmp"
		_ = os.Remove(tmp)
		if err := os.Link(cur, tmp); err == nil {
			if err := os.Rename(tmp, prev); err != nil {
				_ = os.Remove(tmp)
			}
		}
	}
	return writeAtomic(cur, data)
}

func readableStatus(path string) bool {
	data, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	var st v1alpha1.UpdateRunStatus
	return json.Unmarshal(data, &st) == nil
}

// SetState changes spec.state (Run, Stop) of a stored run.
func (s *Store) SetState(name, state string) error {
	if err := checkName(name); err != nil {
		return err
	}
	unlock, err := filelock.Lock(s.path(name, "spec.lock"))
	if err != nil {
		return err
	}
	defer unlock()
	run, err := s.Get(name)
	if err != nil && !statusOnly(err, run) {
		return err
	}
	if err := Resumable(run, state); err != nil {
		return err
	}
	run.Spec.State = state
	run.Status = v1alpha1.UpdateRunStatus{}
	return s.SaveSpec(run)
}

// Lock takes the right to drive a run; it is released when the process
// exits, however it exits.
func (s *Store) Lock(name string) (func(), error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	unlock, err := filelock.TryLock(s.path(name, "driver.lock"))
	if errors.Is(err, filelock.ErrLocked) {
		return nil, fmt.Errorf("%w %s", ErrLocked, name)
	}
	return unlock, err
}

// Delete removes a run and every record of it (status, fleet, audit,
// approvals), holding its driver lock so that no driver starts on it
// meanwhile; ErrLocked while a driver holds it.
func (s *Store) Delete(name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	if _, err := os.Stat(s.path(name, "run.yaml")); err != nil {
		return fmt.Errorf("no run %q in %s: %w", name, s.Dir, err)
	}
	unlock, err := s.Lock(name)
	if err != nil {
		return err
	}
	defer unlock()
	// Renaming the folder away first makes the delete all or nothing for
	// readers; a folder left half removed is never listed as a run.
	gone := s.runDir(name) + deleting
	if err := os.Rename(s.runDir(name), gone); err != nil {
		return fmt.Errorf("deleting run %s: %w", name, err)
	}
	return os.RemoveAll(gone)
}

// deleting ends the name of a run folder being deleted.
const deleting = ".deleting"

// Driven reports whether a process holds the right to drive a run now.
// A run whose status says Running with no driver was killed: its status
// stops where the process did, until `upshift resume` takes it up.
func (s *Store) Driven(name string) (bool, error) {
	unlock, err := s.Lock(name)
	if errors.Is(err, ErrLocked) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	unlock()
	return false, nil
}

// The keys of approvals and skips: what one is for. They are stored as
// written here, so every writer and reader builds them with these.

// StageKey is a whole stage: a skip of it, or an approval of all its
// approval tasks.
func StageKey(stage string) string { return "stage/" + stage }

// StageTaskKey is one task of a stage (an Approval task's approval).
func StageTaskKey(stage, task string) string { return StageKey(stage) + "/" + task }

// ClusterKey is a whole cluster (a skip).
func ClusterKey(cluster string) string { return "cluster/" + cluster }

// ClusterGateKey is one gate of a cluster (an Approval gate's approval,
// a canary's promotion).
func ClusterGateKey(cluster, gate string) string { return ClusterKey(cluster) + "/" + gate }

// Approval records who approved which stage task, or cluster gate, when.
type Approval struct {
	// Key is StageTaskKey or ClusterGateKey.
	Key string `json:"key"`
	By  string `json:"by"`
	// OSUser is who ran the command, recorded whatever --by says.
	OSUser string    `json:"osUser,omitempty"`
	Time   time.Time `json:"time"`
}

// Approve records an approval.
func (s *Store) Approve(name string, a Approval) error {
	if run, err := s.Get(name); err != nil && !statusOnly(err, run) {
		return err
	}
	return s.appendLine(name, "approvals.jsonl", a)
}

// Approvals returns the run's approvals by key (the first of each key).
func (s *Store) Approvals(name string) (map[string]Approval, error) {
	out := map[string]Approval{}
	err := s.readLines(name, "approvals.jsonl", func(line []byte) error {
		var a Approval
		if err := json.Unmarshal(line, &a); err != nil {
			return err
		}
		if _, ok := out[a.Key]; !ok {
			out[a.Key] = a
		}
		return nil
	})
	return out, err
}

// Skip records a request to skip a stage (StageKey), a stage task
// (StageTaskKey) or a cluster (ClusterKey).
func (s *Store) Skip(name string, a Approval) error {
	if run, err := s.Get(name); err != nil && !statusOnly(err, run) {
		return err
	}
	return s.appendLine(name, "skips.jsonl", a)
}

// Skips returns the keys that were asked to be skipped.
func (s *Store) Skips(name string) (map[string]bool, error) {
	out := map[string]bool{}
	err := s.readLines(name, "skips.jsonl", func(line []byte) error {
		var a Approval
		if err := json.Unmarshal(line, &a); err != nil {
			return err
		}
		out[a.Key] = true
		return nil
	})
	return out, err
}

// Event is one line of a run's audit log.
type Event struct {
	Time    time.Time `json:"time"`
	Stage   string    `json:"stage,omitempty"`
	Cluster string    `json:"cluster,omitempty"`
	Step    string    `json:"step,omitempty"`
	// Type is an engine event's (Started, Completed, Failed, Waiting,
	// Skipped, Stopped…) or one of the Event* types below.
	Type    string `json:"type"`
	Message string `json:"message,omitempty"`
	// Command is what a person runs to go on, on an event that waits for
	// one (the upshift approve of an approval).
	Command string `json:"command,omitempty"`
}

// Types of the audit lines written by people's requests and by the
// commands that create runs, outside the engine.
const (
	EventApproved          = "Approved"
	EventPromoted          = "Promoted"
	EventSkipRequested     = "SkipRequested"
	EventStopRequested     = "StopRequested"
	EventCancelRequested   = "CancelRequested"
	EventRollbackRequested = "RollbackRequested"
	EventWindowsOverride   = "WindowsOverride"
	EventScheduled         = "Scheduled"
	EventEmergencyPatch    = "EmergencyPatch"
	EventEmergencyPolicy   = "EmergencyPolicy"
	// EventCloudOperationAborted: stop --abort-cloud-operation aborted a
	// step's operation in the cloud.
	EventCloudOperationAborted = "CloudOperationAborted"
)

// RequestedEvent is the audit type of a request that sets a run's state.
func RequestedEvent(state string) string { return state + "Requested" }

// Audit appends an event to the run's audit log.
func (s *Store) Audit(name string, e Event) error { return s.appendLine(name, "audit.jsonl", e) }

// Events reads the run's audit log.
func (s *Store) Events(name string) ([]Event, error) {
	var out []Event
	err := s.readLines(name, "audit.jsonl", func(line []byte) error {
		var e Event
		if err := json.Unmarshal(line, &e); err != nil {
			return err
		}
		out = append(out, e)
		return nil
	})
	return out, err
}

// List returns every stored run, oldest first. A run whose files cannot
// be read is listed with phase Unreadable and the reason, never hidden.
func (s *Store) List() ([]*v1alpha1.UpdateRun, error) {
	entries, err := os.ReadDir(filepath.Join(s.Dir, "runs"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []*v1alpha1.UpdateRun
	for _, e := range entries {
		if !e.IsDir() || strings.HasSuffix(e.Name(), deleting) {
			continue
		}
		run, err := s.Get(e.Name())
		var corrupt *CorruptError
		switch {
		case errors.As(err, &corrupt):
			if run == nil {
				run = &v1alpha1.UpdateRun{}
				run.Name = e.Name()
			}
			run.Status.Phase, run.Status.Message = PhaseUnreadable, corrupt.Error()
		case err != nil:
			continue // not a run folder (a name that is not a run's)
		}
		out = append(out, run)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].Status.Start, out[j].Status.Start
		if a == nil || b == nil {
			return out[i].Name < out[j].Name
		}
		return a.Before(b)
	})
	return out, nil
}

func (s *Store) appendLine(name, file string, v any) error {
	if err := checkName(name); err != nil {
		return err
	}
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(s.path(name, file), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Write(append(data, '\n')); err != nil {
		return err
	}
	return f.Sync()
}

func (s *Store) readLines(name, file string, fn func([]byte) error) error {
	if err := checkName(name); err != nil {
		return err
	}
	f, err := os.Open(s.path(name, file))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for sc.Scan() {
		if len(sc.Bytes()) == 0 {
			continue
		}
		if err := fn(sc.Bytes()); err != nil {
			// A line torn by a crash mid-write is the last one; skip it.
			continue
		}
	}
	return sc.Err()
}

func writeAtomic(path string, data []byte) error { return atomicfile.Write(path, data, 0o600) }
