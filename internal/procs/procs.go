package procs

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"upshift.dev/upshift/internal/atomicfile"
)

// Spec says what to start.
type Spec struct {
	Name    string   // component name, used for the record and log files
	Path    string   // executable
	Args    []string // arguments, without argv[0]
	Env     []string // extra environment, KEY=VALUE
	Dir     string   // working directory
	LogFile string   // stdout and stderr go here, appended
}

// Record identifies a started process.
type Record struct {
	Name      string    `json:"name"`
	PID       int       `json:"pid"`
	StartTime uint64    `json:"startTime"` // clock ticks since boot, /proc/PID/stat field 22
	Path      string    `json:"path"`
	Started   time.Time `json:"started"`
}

// Start launches the process in a session of its own, so that it survives
// the caller and can be stopped as a group, and writes its record to
// recordPath before returning.
func Start(spec Spec, recordPath string) (Record, error) {
	logf, err := os.OpenFile(spec.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return Record{}, fmt.Errorf("opening log for %s: %w", spec.Name, err)
	}
	defer logf.Close()
	cmd := exec.Command(spec.Path, spec.Args...)
	cmd.Dir = spec.Dir
	cmd.Env = append(os.Environ(), spec.Env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return Record{}, fmt.Errorf("starting %s (%s): %w", spec.Name, spec.Path, err)
	}
	// Reap it if it dies while we live; once we exit, init does.
	go func() { _ = cmd.Wait() }()
	rec := Record{Name: spec.Name, PID: cmd.Process.Pid, Path: spec.Path, Started: time.Now().UTC()}
	rec.StartTime, _ = startTime(rec.PID)
	if err := writeRecord(recordPath, rec); err != nil {
		_ = syscall.Kill(-rec.PID, syscall.SIGKILL)
		return Record{}, err
	}
	return rec, nil
}

func writeRecord(path string, rec Record) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(path, data, 0o600); err != nil {
		return fmt.Errorf("writing process record: %w", err)
	}
	return nil
}

// Load reads a record written by Start.
func Load(path string) (Record, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Record{}, err
	}
	var rec Record
	if err := json.Unmarshal(data, &rec); err != nil {
		return Record{}, fmt.Errorf("reading process record %s: %w", path, err)
	}
	return rec, nil
}

// LoadDir reads every record in dir, keyed by name.
func LoadDir(dir string) (map[string]Record, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]Record{}, nil
	}
	if err != nil {
		return nil, err
	}
	recs := map[string]Record{}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		rec, err := Load(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		recs[rec.Name] = rec
	}
	return recs, nil
}

// Alive reports whether the recorded process still runs (a zombie does not).
func (r Record) Alive() bool {
	st, state, err := stat(r.PID)
	if err != nil || state == "Z" || state == "X" {
		return false
	}
	return r.StartTime == 0 || st == r.StartTime
}

// Stop sends SIGTERM to the process's group, waits up to grace for it to
// go, then kills the group. Stopping a process that is gone is not an error.
func (r Record) Stop(grace time.Duration) error {
	if !r.Alive() {
		return nil
	}
	if err := syscall.Kill(-r.PID, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stopping %s (pid %d): %w", r.Name, r.PID, err)
	}
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if !r.Alive() {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := syscall.Kill(-r.PID, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("killing %s (pid %d): %w", r.Name, r.PID, err)
	}
	for i := 0; i < 250 && r.Alive(); i++ {
		time.Sleep(20 * time.Millisecond)
	}
	if r.Alive() {
		return fmt.Errorf("%s (pid %d) did not exit after SIGKILL", r.Name, r.PID)
	}
	return nil
}

// Memory is a process's memory, in bytes, from /proc/PID/smaps_rollup.
type Memory struct {
	// RSS is every page mapped in, shared ones (the binary's code, read
	// by several processes) counted in full.
	RSS int64
	// PSS shares each shared page among the processes that map it: what
	// the process costs the machine.
	PSS int64
	// Anon is the process's own memory (heap, stacks), its PSS part that
	// no file backs.
	Anon int64
}

// Memory reads the process's memory.
func (r Record) Memory() (Memory, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(r.PID) + "/smaps_rollup")
	if err != nil {
		return Memory{}, err
	}
	var m Memory
	fields := map[string]*int64{"Rss:": &m.RSS, "Pss:": &m.PSS, "Pss_Anon:": &m.Anon}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && fields[f[0]] != nil {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				return Memory{}, fmt.Errorf("smaps_rollup of pid %d: %w", r.PID, err)
			}
			*fields[f[0]] = kb * 1024
		}
	}
	if m.RSS == 0 {
		return Memory{}, fmt.Errorf("no Rss in smaps_rollup of pid %d", r.PID)
	}
	return m, nil
}

func startTime(pid int) (uint64, error) {
	st, _, err := stat(pid)
	return st, err
}

// stat returns the start time and state of pid from /proc/PID/stat.
func stat(pid int) (uint64, string, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, "", err
	}
	// The command name (field 2) may hold spaces; fields after it are plain.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, "", fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	fields := strings.Fields(s[i+1:])
	if len(fields) < 20 {
		return 0, "", fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	st, err := strconv.ParseUint(fields[19], 10, 64)
	return st, fields[0], err
}
