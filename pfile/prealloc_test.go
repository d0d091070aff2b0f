package pfile

import (
	"bytes"
	"errors"
	"syscall"
	"testing"

	"pwstore/pagebuf"
	"pwstore/vfs"
)

// reserveLog is a real file that records the space reserved in it; with
// fail set, every reservation fails (and none is made).
type reserveLog struct {
	vfs.File
	fail bool
	got  []span // [off, off+n) of each Allocate call
}

func (r *reserveLog) Allocate(off, n int64) error {
	r.got = append(r.got, span{uint64(off), uint64(off + n)})
	if r.fail {
		return syscall.ENOSPC
	}
	return r.File.(vfs.Allocator).Allocate(off, n)
}

// createReserving creates a data file whose raw file is a reserveLog.
func createReserving(t *testing.T, opts Options, fail bool) (*handle, *reserveLog) {
	t.Helper()
	raw, err := vfs.OS.Create(tempPath(t, "reserve.pw"))
	if err != nil {
		t.Fatal(err)
	}
	a, ok := raw.(vfs.Allocator)
	if !ok {
		t.Skip("no space reservation on this system")
	}
	if err := a.Allocate(0, 4096); errors.Is(err, syscall.EOPNOTSUPP) {
		t.Skipf("the file system reserves no space: %v", err)
	} else if err != nil {
		t.Fatal(err)
	}
	log := &reserveLog{File: raw, fail: fail}
	buf := newBufferCap(t, log, DefaultPageSize, pagebuf.Plain, bufPages)
	f, err := Create(buf, log, opts)
	if err != nil {
		t.Fatal(err)
	}
	buf.SetEvictHook(f.Evicted)
	return &handle{raw.Name(), log, buf, f}, log
}

// chunkSpan is the space of chunk lin of ds.
func chunkSpan(t *testing.T, ds *Dataset, lin uint64) span {
	t.Helper()
	idx, err := ds.index()
	if err != nil {
		t.Fatal(err)
	}
	rec, err := idx.Get(lin)
	if err != nil {
		t.Fatal(err)
	}
	return span{rec.Addr, rec.Addr + rec.Size}
}

// TestPreallocate: a sole writer reserves a chunk's whole space before
// its first write - a direct write, a cached chunk's write-back, a run of
// mirrors - and never again; ranks of a parallel writer reserve nothing;
// what was written reads back either way.
func TestPreallocate(t *testing.T) {
	for _, sole := range []bool{false, true} {
		h, log := createReserving(t, Options{SoleWriter: sole}, false)
		// 128 KiB chunks, written 64 KiB at a time (straight to the file).
		big, err := h.f.CreateDataset("/big", Spec{Type: Int32, Shape: []uint64{0, 512}, MaxShape: []uint64{Unlimited, 512}, Chunk: []uint64{64, 512}})
		if err != nil {
			t.Fatal(err)
		}
		// A 32 KiB chunk (too big to mirror), one element (cached).
		mid, err := h.f.CreateDataset("/mid", Spec{Type: Int32, Shape: []uint64{0}, MaxShape: []uint64{Unlimited}, Chunk: []uint64{8192}})
		if err != nil {
			t.Fatal(err)
		}
		// Three 4 KiB chunks next to each other, one element each (mirrors
		// for a sole writer).
		var small []*Dataset
		for _, p := range []string{"/s0", "/s1", "/s2"} {
			ds, err := h.f.CreateDataset(p, Spec{Type: Int32, Shape: []uint64{0}, MaxShape: []uint64{Unlimited}, Chunk: []uint64{1024}})
			if err != nil {
				t.Fatal(err)
			}
			small = append(small, ds)
		}
		half := bytes.Repeat([]byte{7}, 32*512*4)
		if err := big.Extend(64); err != nil {
			t.Fatal(err)
		}
		for _, ds := range append([]*Dataset{mid}, small...) {
			if err := ds.Extend(1); err != nil {
				t.Fatal(err)
			}
		}
		log.got = nil // the setup's probe
		for _, row := range []uint64{0, 32} {
			if err := big.WriteSlab([]uint64{row, 0}, []uint64{32, 512}, half); err != nil {
				t.Fatal(err)
			}
		}
		for i, ds := range append([]*Dataset{mid}, small...) {
			if err := ds.WriteSlab([]uint64{0}, []uint64{1}, []byte{byte(i + 1), 0, 0, 0}); err != nil {
				t.Fatal(err)
			}
		}
		if err := h.f.FlushRaw(); err != nil {
			t.Fatal(err)
		}
		var want []span
		if sole { // the small chunks in one run, reserved at once
			want = []span{chunkSpan(t, big, 0), chunkSpan(t, mid, 0), {chunkSpan(t, small[0], 0).lo, chunkSpan(t, small[2], 0).hi}}
		}
		if !equalSpans(log.got, want) {
			t.Errorf("sole %v: reserved %v, want %v", sole, log.got, want)
		}
		// Written again: nothing more to reserve.
		log.got = nil
		if err := big.WriteSlab([]uint64{0, 0}, []uint64{32, 512}, half); err != nil {
			t.Fatal(err)
		}
		for _, ds := range []*Dataset{mid, small[1]} {
			if err := ds.WriteSlab([]uint64{0}, []uint64{1}, []byte{9, 0, 0, 0}); err != nil {
				t.Fatal(err)
			}
		}
		if err := h.f.FlushRaw(); err != nil {
			t.Fatal(err)
		}
		if len(log.got) != 0 {
			t.Errorf("sole %v: reserved again %v", sole, log.got)
		}
		got := make([]byte, len(half))
		if err := big.ReadSlab([]uint64{32, 0}, []uint64{32, 512}, got); err != nil || !bytes.Equal(got, half) {
			t.Errorf("sole %v: rows 32-63 read back wrong (%v)", sole, err)
		}
		for _, ds := range []*Dataset{mid, small[1]} {
			var v [4]byte
			if err := ds.ReadSlab([]uint64{0}, []uint64{1}, v[:]); err != nil || v[0] != 9 {
				t.Errorf("sole %v: %s reads %v (%v), want 9", sole, ds.Path(), v, err)
			}
		}
		h.close(t)
		checkClosed(t, h.path)
	}
}

// TestPreallocateFails: a file that cannot reserve space is asked once;
// the writes go on and read back.
func TestPreallocateFails(t *testing.T) {
	h, log := createReserving(t, Options{SoleWriter: true}, true)
	ds, err := h.f.CreateDataset("/big", Spec{Type: Int32, Shape: []uint64{0, 512}, MaxShape: []uint64{Unlimited, 512}, Chunk: []uint64{64, 512}})
	if err != nil {
		t.Fatal(err)
	}
	log.got = nil
	rows := bytes.Repeat([]byte{3}, 32*512*4)
	for step := range uint64(4) {
		if err := ds.Extend(32 * (step + 1)); err != nil {
			t.Fatal(err)
		}
		if err := ds.WriteSlab([]uint64{32 * step, 0}, []uint64{32, 512}, rows); err != nil {
			t.Fatal(err)
		}
	}
	if len(log.got) != 1 {
		t.Errorf("asked to reserve %d times (%v), want once", len(log.got), log.got)
	}
	got := make([]byte, len(rows))
	if err := ds.ReadSlab([]uint64{96, 0}, []uint64{32, 512}, got); err != nil || !bytes.Equal(got, rows) {
		t.Errorf("rows 96-127 read back wrong (%v)", err)
	}
	h.close(t)
	checkClosed(t, h.path)
}

func equalSpans(a, b []span) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
