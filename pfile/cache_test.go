package pfile

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestWholeChunkWrites: a write of a whole chunk bypasses the cache and
// supersedes what the cache held of that chunk; partial writes before and
// after it land where they should, before and after the write-back.
func TestWholeChunkWrites(t *testing.T) {
	path := tempPath(t, "whole.pw")
	h := createFile(t, path, Options{})
	ds, err := h.f.CreateDataset("/d", Spec{Type: Uint8, Shape: []uint64{3, 64}, Chunk: []uint64{1, 64}})
	if err != nil {
		t.Fatal(err)
	}
	row := func(b byte) []byte { return bytes.Repeat([]byte{b}, 64) }
	read := func() []byte {
		buf := make([]byte, 3*64)
		if err := ds.ReadSlab([]uint64{0, 0}, []uint64{3, 64}, buf); err != nil {
			t.Fatal(err)
		}
		return buf
	}
	// Row 0: a partial write (cached), then the whole chunk (direct).
	if err := ds.WriteSlab([]uint64{0, 8}, []uint64{1, 8}, row(1)[:8]); err != nil {
		t.Fatal(err)
	}
	if err := ds.WriteSlab([]uint64{0, 0}, []uint64{1, 64}, row(2)); err != nil {
		t.Fatal(err)
	}
	// Row 1: the whole chunk, then a partial write over part of it.
	if err := ds.WriteSlab([]uint64{1, 0}, []uint64{1, 64}, row(3)); err != nil {
		t.Fatal(err)
	}
	if err := ds.WriteSlab([]uint64{1, 60}, []uint64{1, 4}, row(4)[:4]); err != nil {
		t.Fatal(err)
	}
	want := append(append(row(2), append(row(3)[:60], row(4)[:4]...)...), row(0)...)
	if got := read(); !bytes.Equal(got, want) {
		t.Fatalf("before write-back:\n got %v\nwant %v", got, want)
	}
	if err := h.f.FlushRaw(); err != nil {
		t.Fatal(err)
	}
	if got := read(); !bytes.Equal(got, want) {
		t.Fatalf("after write-back:\n got %v\nwant %v", got, want)
	}
	h.close(t)
	checkClosed(t, path)
	r := mustOpen(t, path, true)
	rd, err := r.f.Dataset("/d")
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 3*64)
	if err := rd.ReadSlab([]uint64{0, 0}, []uint64{3, 64}, buf); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf, want) {
		t.Fatalf("reopened:\n got %v\nwant %v", buf, want)
	}
}

// TestCacheHoldsWrittenExtent: the cache holds each chunk's bytes from its
// lowest to its highest written offset, growing either way; random partial
// writes to three chunks through a small cache (so chunks are written back
// while others are held) read back as a model says, before and after
// FlushRaw and after reopening.
func TestCacheHoldsWrittenExtent(t *testing.T) {
	path := tempPath(t, "extent.pw")
	h := createFile(t, path, Options{RawCacheBytes: 160})
	ds, err := h.f.CreateDataset("/d", Spec{Type: Uint8, Shape: []uint64{3, 64}, Chunk: []uint64{1, 64}})
	if err != nil {
		t.Fatal(err)
	}
	model := make([]byte, 3*64)
	read := func(ds *Dataset) []byte {
		buf := make([]byte, 3*64)
		if err := ds.ReadSlab([]uint64{0, 0}, []uint64{3, 64}, buf); err != nil {
			t.Fatal(err)
		}
		return buf
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 400 {
		row, lo := rng.Uint64N(3), rng.Uint64N(63)
		n := 1 + rng.Uint64N(min(8, 64-lo-1))
		p := bytes.Repeat([]byte{byte(i)}, int(n))
		if err := ds.WriteSlab([]uint64{row, lo}, []uint64{1, n}, p); err != nil {
			t.Fatal(err)
		}
		copy(model[row*64+lo:], p)
		if got := read(ds); !bytes.Equal(got, model) {
			t.Fatalf("write %d (row %d, bytes %d..%d):\n got %v\nwant %v", i, row, lo, lo+n, got, model)
		}
		if h.f.cache.bytes > 160 {
			t.Fatalf("write %d: cache holds %d bytes, limit 160", i, h.f.cache.bytes)
		}
		if i%97 == 0 {
			if err := h.f.FlushRaw(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := h.f.FlushRaw(); err != nil {
		t.Fatal(err)
	}
	if got := read(ds); !bytes.Equal(got, model) {
		t.Fatalf("after write-back:\n got %v\nwant %v", got, model)
	}
	h.close(t)
	r := mustOpen(t, path, true)
	rd, err := r.f.Dataset("/d")
	if err != nil {
		t.Fatal(err)
	}
	if got := read(rd); !bytes.Equal(got, model) {
		t.Fatalf("reopened:\n got %v\nwant %v", got, model)
	}
}
