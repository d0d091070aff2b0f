package pfile

import (
	"errors"
	"os"
	"testing"

	"pwstore/internal/storage/corrupt"
)

// TestTruncatedFileIsCorrupt: a data file cut short inside its allocated
// space never reads as zeros: Open refuses it, and a reader that opened
// it before the cut gets corruption from a chunk read past the new end.
func TestTruncatedFileIsCorrupt(t *testing.T) {
	path := tempPath(t, "cut.pw")
	w := createFile(t, path, Options{})
	ds, err := w.f.CreateDataset("/v", Spec{Type: Int64, Shape: []uint64{4096}, Chunk: []uint64{512}})
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 8*4096)
	for i := range data {
		data[i] = byte(i%251 + 1)
	}
	if err := ds.WriteSlab([]uint64{0}, []uint64{4096}, data); err != nil {
		t.Fatal(err)
	}
	w.close(t)
	r := mustOpen(t, path, true)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
	rd, err := r.f.Dataset("/v")
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8*4096)
	err = rd.ReadSlab([]uint64{0}, []uint64{4096}, buf)
	if !errors.Is(err, corrupt.Err) || !errors.Is(err, ErrTruncated) {
		t.Fatalf("read past the cut: %v, want corruption (truncated)", err)
	}
	if _, err := openFile(t, path, true); !errors.Is(err, corrupt.Err) || !errors.Is(err, ErrTruncated) {
		t.Fatalf("open of the cut file: %v, want corruption (truncated)", err)
	}
	if _, err := openFile(t, path, false); !errors.Is(err, corrupt.Err) {
		t.Fatalf("open of the cut file for writing: %v, want corruption", err)
	}
}
