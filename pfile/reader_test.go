package pfile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"testing"
)

// TestReaderFollows: a read-only File over a reader's page buffer keeps
// its snapshot until the buffer evicts changed pages (Evicted, wired to
// the eviction hook) and Refresh re-reads the superblock; then it sees the
// writer's new shape, data and datasets.
func TestReaderFollows(t *testing.T) {
	path := tempPath(t, "follow.pw")
	// As a SWMR writer: freed space is not reused (no ReleaseBefore), so a
	// moved header's old page stays as it was in the reader's buffer.
	w := createFile(t, path, Options{DeferReuse: true})
	ds, err := w.f.CreateDataset("/t", Spec{Type: Int64, Shape: []uint64{0}, MaxShape: []uint64{Unlimited}, Chunk: []uint64{3}})
	if err != nil {
		t.Fatal(err)
	}
	publish := func(n uint64) {
		if err := ds.Extend(n); err != nil {
			t.Fatal(err)
		}
		var v [8]byte
		binary.LittleEndian.PutUint64(v[:], n*11)
		if err := ds.WriteSlab([]uint64{n - 1}, []uint64{1}, v[:]); err != nil {
			t.Fatal(err)
		}
		w.publish(t)
	}
	publish(1)
	prev, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r := mustOpen(t, path, true)
	rd, err := r.f.Dataset("/t")
	if err != nil {
		t.Fatal(err)
	}
	shape := func() uint64 {
		s, err := rd.Shape()
		if err != nil {
			t.Fatal(err)
		}
		return s[0]
	}
	if shape() != 1 {
		t.Fatalf("reader sees %d elements, want 1", shape())
	}
	for n := uint64(2); n <= 8; n++ {
		publish(n)
		// Grows the header past its page at some n: it moves.
		for k := range 40 {
			if err := ds.SetAttr(fmt.Sprintf("attribute-%d-%d", n, k), UintValue(n)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := w.f.CreateDataset("/extra"+string(rune('a'+n)), Spec{Type: Int8, Shape: []uint64{1}}); err != nil {
			t.Fatal(err)
		}
		w.publish(t)
		if shape() != n-1 {
			t.Fatalf("reader moved without adopting: %d", shape())
		}
		// Adopt: evict the pages the writer changed, as a metadata-file
		// index would list them.
		img, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		r.buf.Invalidate(changedPages(prev, img, DefaultPageSize))
		prev = img
		if err := r.f.Refresh(); err != nil {
			t.Fatal(err)
		}
		if shape() != n {
			t.Fatalf("reader sees %d elements after adopting, want %d", shape(), n)
		}
		got := make([]byte, 8*n)
		if err := rd.ReadSlab([]uint64{0}, []uint64{n}, got); err != nil {
			t.Fatal(err)
		}
		for i := range n {
			if v := binary.LittleEndian.Uint64(got[8*i:]); v != (i+1)*11 {
				t.Fatalf("element %d = %d", i, v)
			}
		}
		paths, err := r.f.Paths()
		if err != nil || len(paths) != int(n) {
			t.Fatalf("reader lists %v (%v), want %d datasets", paths, err, n)
		}
		attrs, err := rd.Attrs()
		if err != nil || len(attrs) != 40*int(n-1) {
			t.Fatalf("reader sees %d attributes (%v), want %d", len(attrs), err, 40*(n-1))
		}
	}
	// A reader never writes.
	if err := rd.Extend(100); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("extend on a reader: %v", err)
	}
	if err := rd.WriteSlab([]uint64{0}, []uint64{1}, make([]byte, 8)); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("write on a reader: %v", err)
	}
	if _, err := r.f.CreateDataset("/no", Spec{Type: Int8, Shape: []uint64{1}}); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("create on a reader: %v", err)
	}
	if err := r.f.Check(CheckOptions{}); err != nil {
		t.Fatal(err)
	}
	w.close(t)
	checkClosed(t, path)
}

// TestReaderMovedHeader: a header moves (its old page unchanged in the
// file, so no eviction names it); the reader still follows the catalog
// to the new one once the catalog leaf is evicted.
func TestReaderMovedHeader(t *testing.T) {
	path := tempPath(t, "moved.pw")
	w := createFile(t, path, Options{DeferReuse: true})
	ds, err := w.f.CreateDataset("/m", Spec{Type: Int8, Shape: []uint64{2}})
	if err != nil {
		t.Fatal(err)
	}
	w.publish(t)
	prev, _ := os.ReadFile(path)
	r := mustOpen(t, path, true)
	rd, err := r.f.Dataset("/m")
	if err != nil {
		t.Fatal(err)
	}
	if a, _ := rd.Attrs(); len(a) != 0 {
		t.Fatalf("%d attributes before", len(a))
	}
	old := ds.at
	if err := ds.SetAttr("big", StringValue(string(bytes.Repeat([]byte("x"), 5000)))); err != nil {
		t.Fatal(err)
	}
	if ds.at == old {
		t.Fatal("header did not move")
	}
	w.publish(t)
	img, _ := os.ReadFile(path)
	changed := changedPages(prev, img, DefaultPageSize)
	if slices.Contains(changed, old.page) {
		t.Fatalf("old header page %d changed in the file: the test needs it unchanged", old.page)
	}
	r.buf.Invalidate(changed)
	v, ok, err := rd.Attr("big")
	if err != nil || !ok || len(v.Data) != 5000 {
		t.Fatalf("reader did not follow the moved header: %v %v", ok, err)
	}
	w.close(t)
	checkClosed(t, path)
}

// changedPages lists the pages that differ between two file images.
func changedPages(a, b []byte, ps int) []uint64 {
	var out []uint64
	for p := 0; p*ps < max(len(a), len(b)); p++ {
		pa, pb := a[min(p*ps, len(a)):min((p+1)*ps, len(a))], b[min(p*ps, len(b)):min((p+1)*ps, len(b))]
		if !bytes.Equal(pa, pb) {
			out = append(out, uint64(p))
		}
	}
	return out
}

// TestReopenAppend: a writer reopens a closed file, takes over its free
// list, appends, and the result reads back and checks.
func TestReopenAppend(t *testing.T) {
	path := tempPath(t, "append.pw")
	h := createFile(t, path, Options{PageSize: 512})
	ds, err := h.f.CreateDataset("/s", Spec{Type: Uint32, Shape: []uint64{2, 3}, MaxShape: []uint64{Unlimited, 3}, Chunk: []uint64{2, 3}})
	if err != nil {
		t.Fatal(err)
	}
	m := newModel([]uint64{2, 3}, 4)
	if err := ds.WriteSlab([]uint64{0, 0}, []uint64{2, 3}, m.slab(5, []uint64{0, 0}, []uint64{2, 3})); err != nil {
		t.Fatal(err)
	}
	for i := range 20 { // grow the header past a page: frees its first page
		if err := ds.SetAttr(string(rune('a'+i))+"-attribute-name", UintValue(uint64(i))); err != nil {
			t.Fatal(err)
		}
	}
	h.close(t)
	if sb, _ := readSB(t, path); sb.FreeList == 0 {
		t.Fatal("no free list persisted")
	}
	checkClosed(t, path)

	w := mustOpen(t, path, false)
	freeBefore := slices.Clone(w.f.al.free)
	if len(freeBefore) == 0 {
		t.Fatal("writer did not take over the free list")
	}
	ds, err = w.f.Dataset("/s")
	if err != nil {
		t.Fatal(err)
	}
	if err := ds.Extend(7); err != nil {
		t.Fatal(err)
	}
	m.grow([]uint64{7, 3})
	if err := ds.WriteSlab([]uint64{2, 0}, []uint64{5, 3}, m.slab(5, []uint64{2, 0}, []uint64{5, 3})); err != nil {
		t.Fatal(err)
	}
	if _, err := w.f.CreateDataset("/new", Spec{Type: Int8, Shape: []uint64{3}}); err != nil {
		t.Fatal(err)
	}
	if slices.Equal(freeBefore, w.f.al.free) {
		t.Fatal("free space was not reused")
	}
	w.close(t)
	checkClosed(t, path)
	r := mustOpen(t, path, true)
	rd, _ := r.f.Dataset("/s")
	got := make([]byte, len(m.data))
	if err := rd.ReadSlab([]uint64{0, 0}, []uint64{7, 3}, got); err != nil || !bytes.Equal(got, m.data) {
		t.Fatalf("appended data differs (%v)", err)
	}
}

func readSB(t *testing.T, path string) (Superblock, error) {
	h := mustOpen(t, path, true)
	return h.f.Superblock(), nil
}

// TestDeferReuse: with DeferReuse, freed space waits for ReleaseBefore to
// pass the epoch it was freed in.
func TestDeferReuse(t *testing.T) {
	a := allocator{pageSize: 512, eoa: 1, deferReuse: true}
	p := a.alloc(2)
	a.epoch = 5
	a.release(p, 2)
	if q := a.alloc(1); q == p {
		t.Fatal("freed space reused before release")
	}
	a.releaseBefore(5)
	if q := a.alloc(1); q == p {
		t.Fatal("space freed in epoch 5 reused after ReleaseBefore(5)")
	}
	a.releaseBefore(6)
	if q := a.alloc(2); q != p {
		t.Fatalf("alloc after ReleaseBefore(6) = %d, want the freed %d", q, p)
	}
	// Without deferral: at once.
	b := allocator{pageSize: 512, eoa: 1}
	p = b.alloc(3)
	b.alloc(1)
	b.release(p, 3)
	if q := b.alloc(2); q != p {
		t.Fatalf("immediate reuse gave %d, want %d", q, p)
	}
	if q := b.alloc(1); q != p+2 {
		t.Fatalf("first fit gave %d, want %d", q, p+2)
	}
}

func TestAllocatorCoalesces(t *testing.T) {
	a := allocator{pageSize: 512, eoa: 100}
	for _, x := range []extent{{10, 2}, {14, 1}, {12, 2}, {20, 5}, {8, 2}} {
		a.insertFree(x)
	}
	want := []extent{{8, 7}, {20, 5}}
	if !slices.Equal(a.free, want) {
		t.Fatalf("free list %v, want %v", a.free, want)
	}
	// Raw space never comes from the free list.
	if off := a.allocRaw(4000); off != 100*512 {
		t.Fatalf("raw chunk at %d, want the end of allocation", off)
	}
	small1, small2 := a.allocRaw(10), a.allocRaw(10)
	if small2 != small1+16 {
		t.Fatalf("small chunks at %d and %d, want packed 8-aligned", small1, small2)
	}
}

// TestUsageErrors: bad arguments give clear errors and change nothing.
func TestUsageErrors(t *testing.T) {
	path := tempPath(t, "usage.pw")
	h := createFile(t, path, Options{})
	ds, err := h.f.CreateDataset("/d", Spec{Type: Int32, Shape: []uint64{4, 4}, MaxShape: []uint64{8, 4}, Chunk: []uint64{2, 2}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.f.CreateDataset("/d", Spec{Type: Int8, Shape: []uint64{1}}); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate: %v", err)
	}
	if _, err := h.f.Dataset("/nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
	for name, spec := range map[string]Spec{
		"no rank":          {Type: Int8},
		"string type":      {Type: String, Shape: []uint64{1}},
		"bad type":         {Type: Type{Kind: 99}, Shape: []uint64{1}},
		"unlimited inner":  {Type: Int8, Shape: []uint64{1, 1}, MaxShape: []uint64{1, Unlimited}, Chunk: []uint64{1, 1}},
		"unlimited no chk": {Type: Int8, Shape: []uint64{1}, MaxShape: []uint64{Unlimited}},
		"zero chunk":       {Type: Int8, Shape: []uint64{1}, Chunk: []uint64{0}},
		"shape over max":   {Type: Int8, Shape: []uint64{5}, MaxShape: []uint64{4}},
		"huge chunk":       {Type: Int64, Shape: []uint64{1 << 20, 1 << 20}},
	} {
		if _, err := h.f.CreateDataset("/bad", spec); !errors.Is(err, ErrBadSpec) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := h.f.CreateDataset("", Spec{Type: Int8, Shape: []uint64{1}}); !errors.Is(err, ErrBadSpec) {
		t.Errorf("empty path: %v", err)
	}
	if err := ds.Resize([]uint64{9, 4}); !errors.Is(err, ErrBadSpec) {
		t.Errorf("beyond max: %v", err)
	}
	if err := ds.Resize([]uint64{3, 4}); !errors.Is(err, ErrBadSpec) {
		t.Errorf("shrink: %v", err)
	}
	if err := ds.WriteSlab([]uint64{3, 0}, []uint64{2, 1}, make([]byte, 8)); !errors.Is(err, ErrBadSpec) {
		t.Errorf("slab beyond shape: %v", err)
	}
	if err := ds.WriteSlab([]uint64{0, 0}, []uint64{1, 1}, make([]byte, 3)); !errors.Is(err, ErrBadSpec) {
		t.Errorf("short data: %v", err)
	}
	if err := ds.ReadSlab([]uint64{0}, []uint64{1}, make([]byte, 4)); !errors.Is(err, ErrBadSpec) {
		t.Errorf("wrong rank: %v", err)
	}
	if err := ds.SetAttr("x", Value{Type: Int32, Data: []byte{1, 2, 3}}); !errors.Is(err, ErrBadSpec) {
		t.Errorf("ragged attribute: %v", err)
	}
	if err := h.f.Check(CheckOptions{}); err != nil {
		t.Fatal(err)
	}
	h.close(t)
	if _, err := h.f.Dataset("/d"); !errors.Is(err, ErrClosed) {
		t.Errorf("after close: %v", err)
	}
	checkClosed(t, path)
}
