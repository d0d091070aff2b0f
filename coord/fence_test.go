package coord

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"pwstore/vfs"
)

// TestRecoveredWriterStops: recovery runs while the writer is stopped
// (here: between two of its calls); the writer's next end of tick, and
// before it any data write after a silence longer than half its
// heartbeat threshold, fails with ErrFenced, and the recovered data file
// is not changed by a byte. The writer takes no file lock, as on a node
// whose locks the recovering node does not see (TestRecoverRefusesLockedFile:
// where it does, recovery refuses).
func TestRecoveredWriterStops(t *testing.T) {
	for _, how := range []string{"end of tick", "data write"} {
		t.Run(how, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "fenced.pw")
			w, err := Create(path, Config{ManualTicks: true, WriterGone: 40 * time.Millisecond, NoFileLock: true})
			if err != nil {
				t.Fatal(err)
			}
			createSmall(t, w, "/a")
			if err := w.EndTick(); err != nil {
				t.Fatal(err)
			}
			d, err := w.CreateDataset("/big", Spec{Type: Int64, Shape: []uint64{1024}, Chunk: []uint64{1024}})
			if err != nil {
				t.Fatal(err)
			}
			if rec, err := Recover(path, Config{ForceRecover: true}); err != nil || !rec.Needed {
				t.Fatalf("recover: %+v, %v", rec, err)
			}
			before, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			switch how {
			case "end of tick":
				err = w.EndTick()
			default:
				time.Sleep(50 * time.Millisecond) // longer than WriterGone / 2
				// A whole chunk goes straight to the file.
				err = d.WriteSlab([]uint64{0}, []uint64{1024}, make([]byte, 8*1024))
			}
			if !errors.Is(err, ErrFenced) {
				t.Fatalf("%s after recovery: %v, want ErrFenced", how, err)
			}
			closeFenced(t, w, path, before)
			if _, err := os.Stat(path + ".md"); !os.IsNotExist(err) {
				t.Fatalf("a metadata file came back: %v", err)
			}
		})
	}
}

// TestRecoveredBeforePublication: recovery runs while the writer is
// stopped inside an end of tick, after its check of the files passed and
// before it publishes (here: when the check of the data file's size asks
// for it, which follows the metadata file's). The publication's own check
// finds the consumed mark; the writer fails with ErrFenced and says how to
// recover, as it does when the check at the start finds it, and the
// recovered data file is not changed by a byte.
func TestRecoveredBeforePublication(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fenced.pw")
	fsys := &stopFS{FS: vfs.OS, data: path}
	w, err := Create(path, Config{FS: fsys, ManualTicks: true})
	if err != nil {
		t.Fatal(err)
	}
	createSmall(t, w, "/a")
	if err := w.EndTick(); err != nil {
		t.Fatal(err)
	}
	// A tick of metadata only: nothing is written to the data file
	// between the check and the publication.
	d, err := w.Dataset("/a")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.SetAttr("unit", StringValue("m")); err != nil {
		t.Fatal(err)
	}
	var before []byte
	fsys.arm(func() {
		if rec, err := Recover(path, Config{ForceRecover: true}); err != nil || !rec.Needed {
			t.Errorf("recover: %+v, %v", rec, err)
		}
		if before, err = os.ReadFile(path); err != nil {
			t.Error(err)
		}
	})
	err = w.EndTick()
	if fsys.fired() != 1 {
		t.Fatalf("the end of tick did not check the data file's size once the metadata file was checked (%d)", fsys.fired())
	}
	if !errors.Is(err, ErrFenced) || !strings.Contains(err.Error(), "pwriter recover") {
		t.Fatalf("end of tick recovered before its publication: %v, want ErrFenced naming pwriter recover", err)
	}
	closeFenced(t, w, path, before)
}

// stopFS runs a hook, once armed, at the first size query of the data
// file: a writer stopped there.
type stopFS struct {
	vfs.FS
	data string

	mu   sync.Mutex // guards hook and n
	hook func()
	n    int // hooks run
}

func (s *stopFS) arm(hook func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hook = hook
}

func (s *stopFS) fired() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

func (s *stopFS) wrap(f vfs.File, err error) (vfs.File, error) {
	if err != nil || f.Name() != s.data {
		return f, err
	}
	return &stopFile{File: f, fs: s}, nil
}

func (s *stopFS) Create(name string) (vfs.File, error) { return s.wrap(s.FS.Create(name)) }
func (s *stopFS) OpenRW(name string) (vfs.File, error) { return s.wrap(s.FS.OpenRW(name)) }

type stopFile struct {
	vfs.File
	fs *stopFS
}

func (f *stopFile) Size() (int64, error) {
	f.fs.mu.Lock()
	hook := f.fs.hook
	f.fs.hook = nil
	if hook != nil {
		f.fs.n++
	}
	f.fs.mu.Unlock()
	if hook != nil {
		hook()
	}
	return f.File.Size()
}

// closeFenced checks that a fenced writer's Close fails and that the data
// file at path still holds before, as recovery left it.
func closeFenced(t *testing.T, w *Writer, path string, before []byte) {
	t.Helper()
	if err := w.Close(); err == nil {
		t.Fatal("close of a fenced writer succeeded")
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Fatal("the fenced writer changed the recovered data file")
	}
}

// TestRecoverRefusesLockedFile: a writer process holds its data file's
// lock for its life, so recovery refuses the file at once, even forced
// (the heartbeat cannot tell a stopped writer from a dead one), and
// changes neither file; the writer goes on and closes. While a recovery
// holds the file, a writer cannot open it.
func TestRecoverRefusesLockedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "locked.pw")
	w := smallWriter(t, path)
	data, md := readFile(t, path), readFile(t, path+".md")
	for _, force := range []bool{false, true} {
		_, err := Recover(path, Config{ForceRecover: force, WriterGone: time.Millisecond})
		if !errors.Is(err, ErrWriterAlive) || !strings.Contains(err.Error(), "still has it open as its writer") {
			t.Fatalf("recover (force %v) of a file its writer holds: %v, want ErrWriterAlive", force, err)
		}
	}
	if !bytes.Equal(readFile(t, path), data) || !bytes.Equal(readFile(t, path+".md"), md) {
		t.Fatal("a refused recovery changed the files")
	}
	createSmall(t, w, "/b")
	if err := w.Close(); err != nil {
		t.Fatalf("the writer after a refused recovery: %v", err)
	}

	f, err := vfs.OS.OpenRW(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if held, err := vfs.Lock(f, true); err != nil || !held {
		t.Fatalf("lock as recovery does: %v, %v", held, err)
	}
	if w, err := Open(path, Config{ManualTicks: true}); !errors.Is(err, ErrNeedsRecovery) || !strings.Contains(fmt.Sprint(err), "being recovered") {
		if err == nil {
			w.Close()
		}
		t.Fatalf("open while a recovery holds the file: %v, want ErrNeedsRecovery", err)
	}
}
