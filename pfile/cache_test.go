package pfile

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"syscall"
	"testing"

	"pwstore/pagebuf"
	"pwstore/vfs"
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

// TestLargePartialWrites: a partial write of directWrite bytes or more
// goes straight to the file, after the bytes the cache held of that chunk
// (written before it, so the large write wins where they overlap); small
// writes after it are cached over it. Two ranks writing halves of one
// chunk that way keep each other's bytes.
func TestLargePartialWrites(t *testing.T) {
	const chunk = 4 * directWrite
	path := tempPath(t, "large.pw")
	h := createFile(t, path, Options{})
	ds, err := h.f.CreateDataset("/d", Spec{Type: Uint8, Shape: []uint64{chunk}})
	if err != nil {
		t.Fatal(err)
	}
	want := make([]byte, chunk)
	write := func(off int, p []byte) {
		t.Helper()
		if err := ds.WriteSlab([]uint64{uint64(off)}, []uint64{uint64(len(p))}, p); err != nil {
			t.Fatal(err)
		}
		copy(want[off:], p)
	}
	read := func(when string) {
		t.Helper()
		got := make([]byte, chunk)
		if err := ds.ReadSlab([]uint64{0}, []uint64{chunk}, got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			i := 0
			for got[i] == want[i] {
				i++
			}
			t.Fatalf("%s: byte %d reads %d, want %d", when, i, got[i], want[i])
		}
	}
	write(10, bytes.Repeat([]byte{1}, 100))                  // cached
	write(directWrite+5, bytes.Repeat([]byte{2}, 30))        // cached, inside the next write
	write(directWrite, bytes.Repeat([]byte{3}, directWrite)) // straight to the file
	write(directWrite+7, bytes.Repeat([]byte{4}, 9))         // cached over it
	if _, cached := h.f.cache.chunks[ds.last.Addr]; !cached || h.f.cache.bytes > 64 {
		t.Fatalf("after the large write the cache holds %d bytes (chunk cached %v), want only the small write after it", h.f.cache.bytes, cached)
	}
	read("before write-back")
	if err := h.f.FlushRaw(); err != nil {
		t.Fatal(err)
	}
	read("after write-back")

	// Two ranks (Files over the same data file, the same calls) write
	// the two halves with large writes.
	h.close(t)
	a, b := mustOpen(t, path, false), mustOpen(t, path, false)
	halves := [][]byte{bytes.Repeat([]byte{5}, chunk/2), bytes.Repeat([]byte{6}, chunk/2)}
	for r, f := range []*handle{a, b} {
		d, err := f.f.Dataset("/d")
		if err != nil {
			t.Fatal(err)
		}
		if err := d.WriteSlab([]uint64{uint64(r * chunk / 2)}, []uint64{chunk / 2}, halves[r]); err != nil {
			t.Fatal(err)
		}
		if err := f.f.FlushRaw(); err != nil {
			t.Fatal(err)
		}
	}
	raw := make([]byte, chunk)
	d, _ := a.f.Dataset("/d")
	if err := d.ReadSlab([]uint64{0}, []uint64{chunk}, raw); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(raw, append(halves[0], halves[1]...)) {
		t.Fatal("a rank's large write overwrote the other rank's half")
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

// TestFlushRawWriteFails: a write of FlushRaw fails (EIO from the fault
// layer) at each position in turn. The error names the chunk being written;
// the chunks before it are on disk and out of the cache, that chunk and the
// ones after it are still cached (its bytes counted), and a second FlushRaw
// writes them, so every element reads back from a reopened file.
func TestFlushRawWriteFails(t *testing.T) {
	const chunks, elems = 6, 16 // two spans per chunk: elements 1..2 and 9
	for fail := 1; fail <= 2*chunks; fail++ {
		path := tempPath(t, "fail.pw")
		fsys := vfs.NewFaultFS(vfs.OS, uint64(fail))
		raw, err := fsys.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		buf := newBuffer(t, raw, DefaultPageSize, pagebuf.Plain)
		f, err := Create(buf, raw, Options{})
		if err != nil {
			t.Fatal(err)
		}
		buf.SetEvictHook(f.Evicted)
		h := &handle{path, raw, buf, f}
		ds, err := f.CreateDataset("/d", Spec{Type: Int32, Shape: []uint64{chunks * elems}, Chunk: []uint64{elems}})
		if err != nil {
			t.Fatal(err)
		}
		want := make([]byte, 4*chunks*elems)
		for c := range uint64(chunks) {
			for _, s := range [][2]uint64{{c*elems + 1, 2}, {c*elems + 9, 1}} {
				p := make([]byte, 4*s[1])
				elemBytes(p, 7, s[0])
				if err := ds.WriteSlab([]uint64{s[0]}, []uint64{s[1]}, p); err != nil {
					t.Fatal(err)
				}
				copy(want[4*s[0]:], p)
			}
		}
		addrs := make([]uint64, 0, chunks)
		for _, ch := range f.cache.order {
			addrs = append(addrs, ch.addr)
		}
		slices.Sort(addrs)
		if len(addrs) != chunks {
			t.Fatalf("%d chunks cached, want %d", len(addrs), chunks)
		}
		fsys.FailAt(fail, syscall.EIO)
		err = f.FlushRaw()
		bad := (fail - 1) / 2 // the chunk of the failing write
		if !errors.Is(err, syscall.EIO) || !strings.Contains(err.Error(), fmt.Sprintf("write chunk at byte %d:", addrs[bad])) {
			t.Fatalf("write %d fails: FlushRaw: %v, want EIO at the chunk at byte %d", fail, err, addrs[bad])
		}
		c := f.cache
		held := 0
		for i, ch := range c.order {
			if ch.addr != addrs[bad+i] || c.chunks[ch.addr] != ch {
				t.Fatalf("write %d fails: cached chunk %d at byte %d, want %d, in the map", fail, i, ch.addr, addrs[bad+i])
			}
			held += len(ch.buf)
		}
		if len(c.order) != chunks-bad || len(c.chunks) != chunks-bad || c.bytes != held {
			t.Fatalf("write %d fails: %d chunks listed, %d mapped, %d bytes counted (held %d), want %d chunks",
				fail, len(c.order), len(c.chunks), c.bytes, held, chunks-bad)
		}
		// Chunks written back are on disk (up to their last element
		// written: the file may end there): read without the cache.
		for i, a := range addrs[:bad] {
			got := make([]byte, 4*10)
			if err := vfs.ReadFull(raw, got, int64(a)); err != nil {
				t.Fatal(err)
			}
			if off := 4 * i * elems; !bytes.Equal(got, want[off:off+len(got)]) {
				t.Fatalf("write %d fails: chunk %d on disk %v, want %v", fail, i, got, want[off:off+len(got)])
			}
		}
		if err := f.FlushRaw(); err != nil {
			t.Fatalf("write %d failed, then FlushRaw: %v", fail, err)
		}
		if len(c.order) != 0 || len(c.chunks) != 0 || c.bytes != 0 {
			t.Fatalf("after the second FlushRaw: %d chunks listed, %d mapped, %d bytes", len(c.order), len(c.chunks), c.bytes)
		}
		h.close(t)
		r := mustOpen(t, path, true)
		rd, err := r.f.Dataset("/d")
		if err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(want))
		if err := rd.ReadSlab([]uint64{0}, []uint64{chunks * elems}, got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("write %d failed: reopened:\n got %v\nwant %v", fail, got, want)
		}
	}
}
