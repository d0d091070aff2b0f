package coord

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"pwstore/vfs"
)

// crashedFile makes a file whose writer died after one published tick.
func crashedFile(t *testing.T, path string) {
	t.Helper()
	fault := vfs.NewFaultFS(vfs.OS, 1)
	w, err := Create(path, Config{ManualTicks: true, FS: fault})
	if err != nil {
		t.Fatal(err)
	}
	createSmall(t, w, "/a")
	if err := w.EndTick(); err != nil {
		t.Fatal(err)
	}
	fault.CrashAfter(fault.Writes(), 0)
	w.Close()
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRecoverRefuses: recovery refuses, and leaves both files byte for
// byte, a metadata file it cannot identify, a data file that is not the
// metadata file's, and an unpublished metadata file young enough for its
// writer to be starting.
func TestRecoverRefuses(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.pw")
	crashedFile(t, good)
	md := readFile(t, good+".md")
	junk := bytes.Repeat([]byte("not pwstore "), 5000)
	other := filepath.Join(dir, "other.pw")
	crashedFile(t, other)

	cases := []struct {
		name     string
		data, md []byte
		want     error
	}{
		{"garbage metadata file", readFile(t, good), bytes.Repeat([]byte{0xa5}, len(md)), ErrCorrupt},
		{"empty metadata file", readFile(t, good), nil, ErrCorrupt},
		{"foreign data file", junk, md, ErrWrongFile},
		{"other identity", readFile(t, other), md, ErrWrongFile},
		{"cut data file", readFile(t, good)[:8192], md, ErrCorrupt},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "f.pw")
			os.WriteFile(path, c.data, 0o644)
			os.WriteFile(path+".md", c.md, 0o644)
			_, err := Recover(path, Config{ForceRecover: true})
			if !errors.Is(err, c.want) {
				t.Fatalf("recover: %v, want %v", err, c.want)
			}
			if !bytes.Equal(readFile(t, path), c.data) || !bytes.Equal(readFile(t, path+".md"), c.md) {
				t.Fatal("recover changed a file it refused")
			}
		})
	}
	// The real pair recovers; an old unpublished metadata file goes.
	if rec, err := Recover(good, Config{ForceRecover: true}); err != nil || !rec.Needed {
		t.Fatalf("recover: %+v, %v", rec, err)
	}
	os.WriteFile(good+".md", make([]byte, 4096), 0o644)
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(good+".md", old, old); err != nil {
		t.Fatal(err)
	}
	if _, err := Recover(good, Config{WriterGone: time.Minute}); err != nil {
		t.Fatalf("recover with an old unpublished metadata file: %v", err)
	}
	if _, err := os.Stat(good + ".md"); !os.IsNotExist(err) {
		t.Fatalf("the unpublished metadata file stayed: %v", err)
	}
}

// TestRecoverWatchesUnpublished: a metadata file without a header whose
// writer is starting (it writes the file while recovery watches it) is
// left alone with ErrWriterAlive.
func TestRecoverWatchesUnpublished(t *testing.T) {
	path := filepath.Join(t.TempDir(), "starting.pw")
	os.WriteFile(path, nil, 0o644)
	os.WriteFile(path+".md", make([]byte, 4096), 0o644)
	done := make(chan error)
	go func() {
		_, err := Recover(path, Config{WriterGone: time.Minute})
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	f, err := os.OpenFile(path+".md", os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(8192) // the writer at work
	f.Close()
	if err := <-done; !errors.Is(err, ErrWriterAlive) {
		t.Fatalf("recover while the writer starts: %v, want ErrWriterAlive", err)
	}
	if fi, err := os.Stat(path + ".md"); err != nil || fi.Size() != 8192 {
		t.Fatalf("recover touched the starting writer's metadata file: %v", err)
	}
}
