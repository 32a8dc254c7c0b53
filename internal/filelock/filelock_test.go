package filelock_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"upshift.dev/upshift/internal/filelock"
)

// TestLockContext: a wait for a held lock ends when its context does (a
// Ctrl-C), and takes the lock once it is free.
func TestLockContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.lock")
	unlock, err := filelock.Lock(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := filelock.LockContext(ctx, path); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a wait past its context: %v", err)
	}
	go func() { time.Sleep(200 * time.Millisecond); unlock() }()
	again, err := filelock.LockContext(context.Background(), path)
	if err != nil {
		t.Fatalf("the freed lock: %v", err)
	}
	again()
}
