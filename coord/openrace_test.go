package coord

import (
	"encoding/binary"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"pwstore/vfs"
)

// zeroOnceFS opens the data file so that the first read of its page 0
// finds zeros, as a reader does that opens the file just before its writer
// writes page 0 (the superblock) for the first time.
type zeroOnceFS struct {
	vfs.FS
	data   string
	zeroed atomic.Bool
}

func (z *zeroOnceFS) Open(name string) (vfs.File, error) {
	f, err := z.FS.Open(name)
	if err != nil || name != z.data {
		return f, err
	}
	return &zeroOnceFile{File: f, fs: z}, nil
}

type zeroOnceFile struct {
	vfs.File
	fs *zeroOnceFS
}

func (f *zeroOnceFile) ReadAt(p []byte, off int64) (int, error) {
	if off == 0 && f.fs.zeroed.CompareAndSwap(false, true) {
		clear(p)
		return len(p), nil
	}
	return f.File.ReadAt(p, off)
}

// TestOpenReaderPageZeroWrittenMeanwhile: a reader that reads the data
// file's page 0 as zeros and finds it written at its next read (the writer
// wrote the superblock in between) waits for the file rather than calling
// it corrupt, and opens it.
func TestOpenReaderPageZeroWrittenMeanwhile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.pw")
	a := newAppender(t, path, Config{TickLen: time.Minute, KeepMD: true})
	a.step()
	if err := a.w.Close(); err != nil {
		t.Fatal(err)
	}
	fsys := &zeroOnceFS{FS: vfs.OS, data: path}
	r, err := OpenReader(path, Config{FS: fsys, OpenWait: 5 * time.Second})
	if err != nil {
		t.Fatalf("open with page 0 written between two reads: %v", err)
	}
	defer r.Close()
	if !fsys.zeroed.Load() {
		t.Fatal("no read of page 0 was made to find zeros")
	}
	v, err := r.Dataset("/x")
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 4)
	if err := v.ReadSlab([]uint64{0}, []uint64{1}, b); err != nil {
		t.Fatal(err)
	}
	if got := binary.LittleEndian.Uint32(b); got != 1 {
		t.Fatalf("x[0] = %d, want 1", got)
	}
}
