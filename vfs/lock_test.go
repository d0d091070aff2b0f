package vfs

import (
	"errors"
	"path/filepath"
	"testing"
)

// TestLock: shared locks go together, an exclusive one conflicts with
// either kind until the holder closes, and a file that is not the
// operating system's holds none.
func TestLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	open := func() File {
		t.Helper()
		f, err := OS.OpenRW(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	c, err := OS.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	a, b, x := open(), open(), open()
	for _, f := range []File{a, b} {
		if held, err := Lock(f, false); err != nil || !held {
			t.Fatalf("shared lock: %v, %v", held, err)
		}
	}
	if held, err := Lock(x, true); !errors.Is(err, ErrLocked) || held {
		t.Fatalf("exclusive lock beside shared ones: %v, %v, want ErrLocked", held, err)
	}
	a.Close()
	b.Close()
	if held, err := Lock(x, true); err != nil || !held {
		t.Fatalf("exclusive lock once the others closed: %v, %v", held, err)
	}
	if held, err := Lock(open(), false); !errors.Is(err, ErrLocked) || held {
		t.Fatalf("shared lock beside an exclusive one: %v, %v, want ErrLocked", held, err)
	}
	ff, err := NewFaultFS(OS, 1).OpenRW(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ff.Close()
	if held, err := Lock(ff, true); err != nil || held {
		t.Fatalf("lock on a FaultFS file: %v, %v, want none and no error", held, err)
	}
}
