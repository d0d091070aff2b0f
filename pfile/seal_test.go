package pfile

import (
	"fmt"
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
