package chunkindex

import (
	"errors"
	"testing"

	"pwstore/internal/storage/corrupt"
)

// The decoders are fuzzed at 512 B pages. Each target decodes the input as
// is, then again with its checksum recomputed so that the checks behind the
// checksum are reached too. Any error must wrap corrupt.Err; a block that
// decodes must be safe to read through every accessor.

const fuzzPage = 512

func fuzzGeometry(t *testing.T, kind Kind) geometry {
	g, err := newGeometry(fuzzPage, kind)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func resealed(b []byte) []byte {
	if len(b) != fuzzPage {
		return b
	}
	return seal(clone(b))
}

func mustCorrupt(t *testing.T, err error) {
	t.Helper()
	if err != nil && !errors.Is(err, corrupt.Err) {
		t.Fatalf("decoder error without corrupt.Err: %v", err)
	}
}

func FuzzRoot(f *testing.F) {
	for _, kind := range []Kind{KindExtensible, KindFixed} {
		g, _ := newGeometry(fuzzPage, kind)
		f.Add(newRoot(g, 1, 5000).b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, kind := range []Kind{KindExtensible, KindFixed} {
			g := fuzzGeometry(t, kind)
			for _, img := range [][]byte{b, resealed(b)} {
				var n uint64
				if len(img) >= rootN+8 {
					n = le.Uint64(img[rootN:])
				}
				r, err := decodeRoot(img, g, 1, n)
				mustCorrupt(t, err)
				if err != nil {
					continue
				}
				for s := range g.extents {
					start, hwm := r.extent(s)
					if start == 0 && hwm != 0 || hwm > g.extentPages(s, n) {
						t.Fatalf("extent %d: start %d hwm %d passed", s, start, hwm)
					}
				}
				for d := range g.direct {
					r.direct(d)
				}
			}
		}
	})
}

func FuzzSuper(f *testing.F) {
	g, _ := newGeometry(fuzzPage, KindExtensible)
	sp := newSuper(g, 1, 3, 2, 12)
	sp.setPointer(0, 40)
	f.Add(seal(sp.b))
	f.Fuzz(func(t *testing.T, b []byte) {
		g := fuzzGeometry(t, KindExtensible)
		for _, img := range [][]byte{b, resealed(b)} {
			var s, j int
			if len(img) >= superOwner {
				s, j = int(le.Uint32(img[superExtent:])), int(le.Uint32(img[superPos:]))
			}
			sp, err := decodeSuper(img, g, 12, 1, s, j)
			mustCorrupt(t, err)
			if err != nil {
				continue
			}
			if k := sp.last(); k >= 0 && sp.pointer(k) == 0 {
				t.Fatalf("last pointer %d is zero", k)
			}
		}
	})
}

func FuzzData(f *testing.F) {
	g, _ := newGeometry(fuzzPage, KindExtensible)
	d := newData(g, 1, 4+29*3, 40)
	d.set(5, Record{Addr: 4096, Size: 100})
	f.Add(seal(d.b))
	f.Fuzz(func(t *testing.T, b []byte) {
		g := fuzzGeometry(t, KindExtensible)
		for _, img := range [][]byte{b, resealed(b)} {
			var first uint64
			if len(img) >= dataFirst+8 {
				first = le.Uint64(img[dataFirst:])
			}
			d, err := decodeData(img, g, 40, 1, first)
			mustCorrupt(t, err)
			if err != nil {
				continue
			}
			if c := d.count(); c < 1 || c > g.perData {
				t.Fatalf("count %d passed", c)
			}
			for r := range d.count() {
				d.record(r)
			}
		}
	})
}

// FuzzIndex loads the input as the pages of a store (each resealed, so the
// structure is what gets tested) and runs Open, Get and Check of both kinds
// on it: errors are fine, panics and unmarked errors are not.
func FuzzIndex(f *testing.F) {
	for _, b := range []built{buildExtensible(f), buildFixed(f)} {
		var img []byte
		for p := uint64(1); p < b.st.next; p++ {
			if pg, ok := b.st.pages[p]; ok {
				img = append(img, pg...)
			} else {
				img = append(img, make([]byte, fuzzPage)...)
			}
			if len(img) >= 24*fuzzPage {
				break
			}
		}
		f.Add(img, uint64(3), uint64(5000))
	}
	f.Fuzz(func(t *testing.T, b []byte, i, n uint64) {
		st := newMemStore(fuzzPage)
		for off := 0; off+fuzzPage <= len(b); off += fuzzPage {
			p, _ := st.Alloc(1)
			if err := st.Write(p, seal(clone(b[off:off+fuzzPage])), true); err != nil {
				t.Fatal(err)
			}
		}
		n %= 1 << 20
		if ix, err := OpenExtensible(st, 1); err == nil {
			ix.Get(i)
			ix.Get(i % 1 << 16)
		}
		if ix, err := OpenFixed(st, 1, n); err == nil && n > 0 {
			ix.Get(i % n)
		}
		for _, kind := range []Kind{KindExtensible, KindFixed} {
			pages, err := Check(st, 1, kind, n)
			if err == nil {
				for k := 1; k < len(pages); k++ {
					if pages[k-1].Page+uint64(pages[k-1].NPages) > pages[k].Page {
						t.Fatalf("Check passed overlapping extents %v", pages)
					}
				}
			}
		}
	})
}
