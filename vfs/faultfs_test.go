package vfs

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func readAll(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFaultFSSplitWritesLandWhole(t *testing.T) {
	fsys := NewFaultFS(OS, 1)
	fsys.SplitWrites(true)
	name := filepath.Join(t.TempDir(), "f")
	f, err := fsys.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Repeat([]byte("abcdefgh"), 1000)
	if n, err := f.WriteAt(want, 10); err != nil || n != len(want) {
		t.Fatalf("WriteAt = %d, %v", n, err)
	}
	f.Close()
	got := readAll(t, name)
	if !bytes.Equal(got[10:], want) || len(got) != 10+len(want) {
		t.Fatalf("split write did not land whole")
	}
}

func TestFaultFSCrashAfterTearsAndDrops(t *testing.T) {
	fsys := NewFaultFS(OS, 2)
	fsys.CrashAfter(2, 3)
	name := filepath.Join(t.TempDir(), "f")
	f, err := fsys.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range []string{"aaaa", "bbbb", "cccc", "dddd"} {
		_, err := f.WriteAt([]byte(s), int64(4*i))
		if crashed := i >= 2; crashed != errors.Is(err, ErrCrashed) {
			t.Fatalf("write %d: err %v", i, err)
		}
	}
	if err := f.Sync(); !errors.Is(err, ErrCrashed) {
		t.Fatalf("sync after crash: %v", err)
	}
	if got := string(readAll(t, name)); got != "aaaabbbbccc" {
		t.Fatalf("file after crash %q, want %q", got, "aaaabbbbccc")
	}
}

func TestFaultFSFailAtChangesNothing(t *testing.T) {
	fsys := NewFaultFS(OS, 3)
	name := filepath.Join(t.TempDir(), "f")
	f, err := fsys.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	fsys.FailAt(2, syscall.ENOSPC)
	if _, err := f.WriteAt([]byte("one"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("two"), 3); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("second write: %v, want ENOSPC", err)
	}
	if _, err := f.WriteAt([]byte("3"), 3); err != nil {
		t.Fatal(err)
	}
	if got := string(readAll(t, name)); got != "one3" {
		t.Fatalf("file %q", got)
	}
}

func TestFaultFSPowerLossKeepsSynced(t *testing.T) {
	for seed := range uint64(50) {
		fsys := NewFaultFS(OS, seed)
		fsys.TrackUnsynced(true)
		name := filepath.Join(t.TempDir(), "f")
		f, err := fsys.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := fsys.SyncDir(filepath.Dir(name)); err != nil {
			t.Fatal(err)
		}
		synced := bytes.Repeat([]byte{'s'}, 64)
		f.WriteAt(synced, 0)
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
		f.WriteAt(bytes.Repeat([]byte{'u'}, 32), 16)
		f.WriteAt(bytes.Repeat([]byte{'v'}, 32), 64)
		f.Truncate(200)
		if err := fsys.PowerLoss(0.5); err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt([]byte("x"), 0); !errors.Is(err, ErrCrashed) {
			t.Fatalf("write after power loss: %v", err)
		}
		got := readAll(t, name)
		if len(got) != 64 && len(got) > 96 {
			t.Fatalf("seed %d: size %d after power loss", seed, len(got))
		}
		for i, c := range got {
			ok := c == 's' && i < 64 || c == 'u' && i >= 16 && i < 48 || c == 'v' && i >= 64 || c == 0 && i >= 64
			if !ok {
				t.Fatalf("seed %d: byte %d is %q: not synced data nor an unsynced write", seed, i, c)
			}
		}
		if len(got) < 64 {
			t.Fatalf("seed %d: synced bytes lost (size %d)", seed, len(got))
		}
	}
}

func TestFaultFSPowerLossKeepNoneRestoresSynced(t *testing.T) {
	fsys := NewFaultFS(OS, 9)
	fsys.TrackUnsynced(true)
	name := filepath.Join(t.TempDir(), "f")
	f, _ := fsys.Create(name)
	fsys.SyncDir(filepath.Dir(name))
	f.WriteAt([]byte("hello world"), 0)
	f.Sync()
	f.WriteAt([]byte("HELLO"), 0)
	f.WriteAt([]byte("!!!"), 11)
	f.Truncate(5)
	if err := fsys.PowerLoss(0); err != nil {
		t.Fatal(err)
	}
	if got := string(readAll(t, name)); got != "hello world" {
		t.Fatalf("after power loss %q, want the synced %q", got, "hello world")
	}
}

func TestFaultFSPowerLossDropsUnsyncedEntries(t *testing.T) {
	for _, skip := range []bool{false, true} {
		dir := t.TempDir()
		fsys := NewFaultFS(OS, 4)
		fsys.TrackUnsynced(true)
		fsys.SkipDirSyncs(skip)
		old, fresh := filepath.Join(dir, "old"), filepath.Join(dir, "fresh")
		if err := os.WriteFile(old, []byte("kept"), 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := fsys.Create(fresh)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteAt([]byte("new"), 0)
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
		f.Close()
		if err := fsys.Remove(old); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(old); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("removed file still there: %v", err)
		}
		if err := fsys.SyncDir(dir); err != nil {
			t.Fatal(err)
		}
		if err := fsys.PowerLoss(1); err != nil {
			t.Fatal(err)
		}
		_, errFresh := os.Stat(fresh)
		gotOld, errOld := os.ReadFile(old)
		if skip {
			// Without a directory sync the creation and the removal are lost.
			if !errors.Is(errFresh, os.ErrNotExist) || errOld != nil || string(gotOld) != "kept" {
				t.Fatalf("unsynced directory: fresh %v, old %q %v; want fresh gone, old back", errFresh, gotOld, errOld)
			}
		} else if errFresh != nil || !errors.Is(errOld, os.ErrNotExist) {
			t.Fatalf("synced directory: fresh %v, old %v; want fresh kept, old gone", errFresh, errOld)
		}
		if names, _ := os.ReadDir(dir); len(names) != 1 {
			t.Fatalf("skip=%v: directory holds %d entries after power loss, want 1", skip, len(names))
		}
	}
}
