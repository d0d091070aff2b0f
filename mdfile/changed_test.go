package mdfile

import (
	"errors"
	"os"
	"testing"
	"time"

	"pwstore/internal/storage/corrupt"
	"pwstore/vfs"
)

// TestWriterStopsWhenFileChanged: a writer whose file was recovered
// (marked consumed) or cut short under it fails its next call with
// ErrChanged and writes nothing.
func TestWriterStopsWhenFileChanged(t *testing.T) {
	for _, how := range []string{"consumed", "truncated", "header overwritten"} {
		t.Run(how, func(t *testing.T) {
			path := mdPath(t)
			w := mustCreate(t, vfs.OS, path, WriterOptions{PageSize: 512})
			for tick := uint64(1); tick <= 3; tick++ {
				if err := w.Update(tick, []Image{{Page: tick, Data: testImage(tick, tick, 1, 512)}}, nil); err != nil {
					t.Fatal(err)
				}
			}
			switch how {
			case "consumed":
				rc, err := OpenForRecovery(vfs.OS, path, ReaderOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if err := rc.MarkConsumed(); err != nil {
					t.Fatal(err)
				}
				rc.Close()
			case "truncated":
				if err := os.Truncate(path, 2048); err != nil {
					t.Fatal(err)
				}
			default:
				f, err := os.OpenFile(path, os.O_WRONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				f.WriteAt(make([]byte, HeaderSize), int64(w.slot*slotStride))
				f.Close()
			}
			before, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			err = w.Heartbeat(4, time.Now())
			if !errors.Is(err, ErrChanged) {
				t.Fatalf("heartbeat after the file was %s: %v, want ErrChanged", how, err)
			}
			if how == "truncated" && !errors.Is(err, corrupt.Err) {
				t.Errorf("a cut-short file is not reported as corrupt: %v", err)
			}
			if err := w.Update(5, []Image{{Page: 9, Data: testImage(9, 5, 1, 512)}}, nil); err == nil {
				t.Fatal("update after the file changed succeeded")
			}
			if err := w.Close(false); err == nil {
				t.Fatal("close after the file changed succeeded")
			}
			after, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("the changed file is gone: %v", err)
			}
			if string(before) != string(after) {
				t.Fatal("the writer wrote into the changed file")
			}
		})
	}
}

// TestUnpublished recognises only what a writer leaves before its first
// tick: header slots never written, or the first one torn.
func TestUnpublished(t *testing.T) {
	hdr := make([]byte, HeaderSize)
	h := Header{PageSize: 4096, Status: StatusOpen, Tick: 1, MaxLag: 3, ReservedPages: 64}
	h.Encode(hdr)
	torn := func(n int) []byte {
		b := make([]byte, 8192)
		copy(b, hdr[:n])
		return b
	}
	garbage := make([]byte, 8192)
	copy(garbage, "my notes")
	secondSlot := make([]byte, 8192)
	copy(secondSlot[slotStride:], hdr)
	for _, c := range []struct {
		name string
		file []byte
		want bool
	}{
		{"zeros", make([]byte, 8192), true},
		{"torn magic", torn(2), true},
		{"torn header", torn(40), true},
		{"empty", nil, false},
		{"short", make([]byte, 100), false},
		{"text", garbage, false},
		{"second slot written", secondSlot, false},
	} {
		path := mdPath(t)
		if err := os.WriteFile(path, c.file, 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := Unpublished(vfs.OS, path)
		if err != nil || got != c.want {
			t.Errorf("%s: Unpublished = %v, %v; want %v", c.name, got, err, c.want)
		}
	}
}

// cutFS cuts a file to cutTo bytes right after the first Size call once
// armed: a file cut under its writer between the writer's Check and its
// writes.
type cutFS struct {
	vfs.FS
	armed bool
	cutTo int64
}

func (c *cutFS) Create(name string) (vfs.File, error) {
	f, err := c.FS.Create(name)
	if err != nil {
		return nil, err
	}
	return &cutFile{File: f, fs: c}, nil
}

type cutFile struct {
	vfs.File
	fs *cutFS
}

func (f *cutFile) Size() (int64, error) {
	size, err := f.File.Size()
	if f.fs.armed {
		f.fs.armed = false
		if terr := f.File.Truncate(f.fs.cutTo); terr != nil {
			return 0, terr
		}
	}
	return size, err
}

// TestCutDuringUpdate: a file cut after the tick's Check and before its
// writes is not brought back to its size by a write past the cut (the
// cut would then pass every later Check, zeros where it was): the write
// that reaches the old size checks it first, and the update fails.
func TestCutDuringUpdate(t *testing.T) {
	path := mdPath(t)
	fsys := &cutFS{FS: vfs.OS, cutTo: 2048}
	w := mustCreate(t, fsys, path, WriterOptions{PageSize: 512})
	for tick := uint64(1); tick <= 3; tick++ {
		if err := w.Update(tick, []Image{{Page: tick, Data: testImage(tick, tick, 1, 512)}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	fsys.armed = true
	err = w.Update(4, []Image{{Page: 9, Data: testImage(9, 4, 1, 512)}}, nil)
	if !errors.Is(err, ErrChanged) || !errors.Is(err, corrupt.Err) {
		t.Fatalf("update of a file cut during it: %v, want ErrChanged (corrupt)", err)
	}
	after, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if after.Size() >= fi.Size() {
		t.Fatalf("the cut file is back to %d bytes (%d before the cut)", after.Size(), fi.Size())
	}
	if err := w.Close(true); err == nil {
		t.Fatal("close after the file was cut succeeded")
	}
}
