package pfile

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// TestDeferSealEvicted: with DeferSeal and a page buffer of a few pages,
// catalog nodes and headers are changed many times between seals while
// the buffer evicts their older sealed images; every read sees the newest
// object, the checker passes after every seal, and the reopened file holds
// the final shapes.
func TestDeferSealEvicted(t *testing.T) {
	path := tempPath(t, "seal.pw")
	h := createFileCap(t, path, Options{PageSize: 512, DeferSeal: true}, 8)
	const n = 120
	var all []*Dataset
	for i := range n {
		ds, err := h.f.CreateDataset(fmt.Sprintf("/s/d%03d", i), Spec{Type: Int32, Shape: []uint64{0}, MaxShape: []uint64{Unlimited}, Chunk: []uint64{4}})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, ds)
	}
	if h.f.DirtyPages() == 0 {
		t.Fatal("nothing dirty before the first Seal: DeferSeal did not defer")
	}
	for pass := range 6 {
		for i, ds := range all {
			if err := ds.Extend(uint64(pass + 1)); err != nil {
				t.Fatal(err)
			}
			if err := ds.WriteSlab([]uint64{uint64(pass)}, []uint64{1}, []byte{byte(i), byte(pass), 0, 0}); err != nil {
				t.Fatal(err)
			}
		}
		for i := range n {
			ds, err := h.f.Dataset(fmt.Sprintf("/s/d%03d", i))
			if err != nil {
				t.Fatal(err)
			}
			if got, err := ds.Shape(); err != nil || got[0] != uint64(pass+1) {
				t.Fatalf("pass %d: dataset %d has shape %v (%v)", pass, i, got, err)
			}
		}
		if err := h.buf.CheckInvariants(); err != nil {
			t.Fatal(err)
		}
		if pass%2 == 1 {
			if err := h.f.Seal(); err != nil {
				t.Fatal(err)
			}
			if err := h.buf.CheckInvariants(); err != nil {
				t.Fatal(err)
			}
		}
		if err := h.f.Check(CheckOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	h.close(t)
	r := mustOpen(t, path, true)
	for i := range n {
		ds, err := r.f.Dataset(fmt.Sprintf("/s/d%03d", i))
		if err != nil {
			t.Fatal(err)
		}
		if got, err := ds.Shape(); err != nil || got[0] != 6 {
			t.Fatalf("dataset %d reopened with shape %v (%v), want 6 rows", i, got, err)
		}
		b := make([]byte, 4)
		if err := ds.ReadSlab([]uint64{5}, []uint64{1}, b); err != nil || b[0] != byte(i) || b[1] != 5 {
			t.Fatalf("dataset %d row 5: %v %v", i, b, err)
		}
	}
}

// TestDeferSealHeaderRewrites: with DeferSeal, a header changed by Extend
// (kept unsealed, encoded at Seal) and by SetAttr (encoded at once, moved
// to larger pages when it outgrows its own) in any order between seals is
// sealed as it last was: after every Seal the image in the page buffer
// decodes to the header in memory, and the reopened file holds the last
// shape and every attribute.
func TestDeferSealHeaderRewrites(t *testing.T) {
	path := tempPath(t, "rewrite.pw")
	h := createFile(t, path, Options{PageSize: 512, DeferSeal: true})
	ds, err := h.f.CreateDataset("/r", Spec{Type: Int32, Shape: []uint64{0}, MaxShape: []uint64{Unlimited}, Chunk: []uint64{4}})
	if err != nil {
		t.Fatal(err)
	}
	rows := uint64(0)
	extend := func() {
		t.Helper()
		rows++
		if err := ds.Extend(rows); err != nil {
			t.Fatal(err)
		}
	}
	attr := func(name string, n int) {
		t.Helper()
		if err := ds.SetAttr(name, StringValue(strings.Repeat("x", n))); err != nil {
			t.Fatal(err)
		}
	}
	sealed := func() {
		t.Helper()
		if err := h.f.Seal(); err != nil {
			t.Fatal(err)
		}
		// Nothing is unsealed: decode the header and its extent table
		// from the page buffer's images.
		read := func(magic [4]byte, page uint64, np int) ([]byte, uint16) {
			t.Helper()
			img, err := h.buf.Read(page, np)
			if err != nil {
				t.Fatal(err)
			}
			p, v, err := unseal(img, magic, page, 512)
			if err != nil {
				t.Fatal(err)
			}
			return p, v
		}
		var got *header
		if ds.at.npages == 0 { // in a header block
			bp, _ := read(magicBlock, ds.at.page, 1)
			hs, err := decodeBlock(bp, h.f.eoa(), 512)
			if err != nil {
				t.Fatal(err)
			}
			for _, bh := range hs {
				if bh.h.path == ds.path {
					got = bh.h
				}
			}
			if got == nil {
				t.Fatalf("header block at page %d lacks %q", ds.at.page, ds.path)
			}
		} else {
			hp, v := read(magicDataset, ds.at.page, int(ds.at.npages))
			var err error
			if got, err = decodeHeader(hp, v, h.f.eoa(), 512); err != nil {
				t.Fatal(err)
			}
		}
		tp, _ := read(magicExtent, got.ext.page, 1)
		vals, err := decodeExtent(tp, 512)
		if err != nil || int(got.ext.slot) >= len(vals) {
			t.Fatalf("extent table of %d slots (%v), header's slot %d", len(vals), err, got.ext.slot)
		}
		got.shape = vals[got.ext.slot : got.ext.slot+1]
		if !reflect.DeepEqual(got, ds.h) {
			t.Fatalf("sealed header %+v, in memory %+v", got, ds.h)
		}
	}
	start := ds.at
	extend()
	attr("a", 8)
	extend() // after an in-place SetAttr in the same interval
	sealed()
	extend()
	attr("b", 900) // moves the header
	if ds.at == start {
		t.Fatal("the header did not move: the test needs a larger attribute")
	}
	extend() // after a move in the same interval
	sealed()
	attr("c", 8)
	extend()
	extend()
	sealed()
	extend() // sealed by Close
	h.close(t)
	r := mustOpen(t, path, true)
	got, err := r.f.Dataset("/r")
	if err != nil {
		t.Fatal(err)
	}
	if shape, err := got.Shape(); err != nil || shape[0] != rows {
		t.Fatalf("reopened with shape %v (%v), want %d rows", shape, err, rows)
	}
	for _, name := range []string{"a", "b", "c"} {
		if _, ok, err := got.Attr(name); !ok || err != nil {
			t.Fatalf("attribute %q: found %v, %v", name, ok, err)
		}
	}
}

// TestAppendAllocations: a one-element append (Extend, then WriteSlab, or
// one Append) within a chunk allocates nothing per call with DeferSeal, but for the
// chunk cache's amortised growth: its per-dimension values live on the
// stack and the header is encoded at Seal. About 9 allocations per append
// before; fewer than one allows for the cache.
func TestAppendAllocations(t *testing.T) {
	h := createFile(t, tempPath(t, "allocs.pw"), Options{DeferSeal: true})
	defer h.close(t)
	ds, err := h.f.CreateDataset("/a", Spec{Type: Int32, Shape: []uint64{0}, MaxShape: []uint64{Unlimited}, Chunk: []uint64{1 << 16}})
	if err != nil {
		t.Fatal(err)
	}
	rows := uint64(0)
	val := []byte{1, 2, 3, 4}
	var start, count [1]uint64
	appendOne := func() {
		rows++
		if err := ds.Extend(rows); err != nil {
			t.Fatal(err)
		}
		start[0], count[0] = rows-1, 1
		if err := ds.WriteSlab(start[:], count[:], val); err != nil {
			t.Fatal(err)
		}
	}
	appendOne() // allocates the chunk
	if n := testing.AllocsPerRun(1000, appendOne); n >= 1 {
		t.Fatalf("%.2f allocations per append", n)
	}
	appendCall := func() { // the same through Append
		if err := ds.Append(1, val); err != nil {
			t.Fatal(err)
		}
	}
	if n := testing.AllocsPerRun(1000, appendCall); n >= 1 {
		t.Fatalf("%.2f allocations per Append", n)
	}
}

// TestDeferSealSuperblock: with DeferSeal, calls that allocate leave page
// 0 to Seal, which writes the superblock of the end of allocation then
// (the pages hold the older one until it runs), and Close writes it too.
func TestDeferSealSuperblock(t *testing.T) {
	path := tempPath(t, "sb.pw")
	h := createFile(t, path, Options{PageSize: 512, DeferSeal: true})
	if err := h.f.Seal(); err != nil {
		t.Fatal(err)
	}
	pagesSB := func() Superblock {
		img, err := h.buf.Read(0, 1)
		if err != nil {
			t.Fatal(err)
		}
		sb, err := DecodeSuperblock(img)
		if err != nil {
			t.Fatal(err)
		}
		return sb
	}
	sealed := pagesSB()
	if sealed != h.f.Superblock() {
		t.Fatalf("after Seal the pages hold %+v, the writer %+v", sealed, h.f.Superblock())
	}
	ds, err := h.f.CreateDataset("/d", Spec{Type: Int32, Shape: []uint64{0}, MaxShape: []uint64{Unlimited}, Chunk: []uint64{4}})
	if err != nil {
		t.Fatal(err)
	}
	for n := range uint64(10) {
		if err := ds.Extend(4 * (n + 1)); err != nil { // a chunk each
			t.Fatal(err)
		}
	}
	if got := pagesSB(); got != sealed {
		t.Fatalf("page 0 changed before Seal: %+v, was %+v", got, sealed)
	}
	if h.f.Superblock().EOA <= sealed.EOA {
		t.Fatalf("end of allocation %d did not grow past %d", h.f.Superblock().EOA, sealed.EOA)
	}
	if err := h.f.Check(CheckOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := h.f.Seal(); err != nil {
		t.Fatal(err)
	}
	if got := pagesSB(); got != h.f.Superblock() {
		t.Fatalf("after Seal the pages hold %+v, the writer %+v", got, h.f.Superblock())
	}
	if err := ds.Extend(100); err != nil {
		t.Fatal(err)
	}
	h.close(t)
	r := mustOpen(t, path, true)
	if err := r.f.Check(CheckOptions{Closed: true}); err != nil {
		t.Fatal(err)
	}
	rd, err := r.f.Dataset("/d")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := rd.Shape(); err != nil || got[0] != 100 {
		t.Fatalf("reopened with shape %v (%v), want 100 rows", got, err)
	}
}
