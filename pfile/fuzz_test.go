package pfile

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"pwstore/internal/storage/corrupt"
)

// Fuzz targets for every decoder: they never panic, every error is marked
// corrupt, and what decodes re-encodes to the same bytes (the formats are
// canonical). Seeds are in testdata/fuzz/.

func mustCorrupt(t *testing.T, err error) {
	t.Helper()
	if err != nil && !errors.Is(err, corrupt.Err) {
		t.Fatalf("error not marked corrupt: %v", err)
	}
}

func FuzzSuperblock(f *testing.F) {
	f.Add((&Superblock{PageSize: 512, CatalogRoot: 1, EOA: 2}).encode())
	f.Fuzz(func(t *testing.T, img []byte) {
		sb, err := DecodeSuperblock(img)
		mustCorrupt(t, err)
		if err != nil {
			return
		}
		if sb.CatalogRoot >= sb.EOA || len(img) != sb.PageSize {
			t.Fatalf("accepted %+v from %d bytes", sb, len(img))
		}
		if _, err := ReadSuperblock(bytes.NewReader(img)); err != nil {
			t.Fatalf("decodes but does not read: %v", err)
		}
	})
}

func FuzzObject(f *testing.F) {
	f.Add(seal(kindCatalog, 3, 1, (&node{leaf: true}).encode(), 512), uint64(3))
	f.Add(seal(objKind{magicDataset, headerV2}, 3, 1, nil, 512), uint64(3))
	f.Fuzz(func(t *testing.T, img []byte, self uint64) {
		for _, m := range [][4]byte{magicCatalog, magicDataset, magicFree, magicExtent} {
			p, v, err := unseal(img, m, self, 512)
			mustCorrupt(t, err)
			if err == nil && (len(p) > len(img)-objHeaderSize || v < 1 || v > maxVersion(m)) {
				t.Fatalf("payload of %d bytes, version %d from a %d-byte image", len(p), v, len(img))
			}
		}
	})
}

func FuzzNode(f *testing.F) {
	f.Add((&node{leaf: true, keys: []string{"a", "b"}, refs: []ref{{1, 1}, {2, 3}}}).encode(), uint64(10))
	f.Add((&node{keys: []string{"m"}, kids: []uint64{4, 5}}).encode(), uint64(10))
	f.Fuzz(func(t *testing.T, p []byte, eoa uint64) {
		n, err := decodeNode(p, eoa)
		mustCorrupt(t, err)
		if err == nil && !bytes.Equal(n.encode(), p) {
			t.Fatalf("node re-encodes differently")
		}
	})
}

func FuzzHeader(f *testing.F) {
	h := &header{path: "/x", typ: Int32, shape: []uint64{3, 4}, max: []uint64{Unlimited, 4}, chunk: []uint64{2, 2}, index: 5,
		attrs: []attr{{"a", IntValue(1)}, {"s", StringValue("hi")}}}
	f.Add(h.encode(), uint64(1000))
	h2 := &header{path: "fixed", typ: Bytes(7), shape: []uint64{9}, max: []uint64{9}, chunk: []uint64{4}, index: 2}
	f.Add(h2.encode(), uint64(100))
	h3 := &header{path: "/v2", typ: Float64, shape: []uint64{5, 2}, max: []uint64{Unlimited, 2}, chunk: []uint64{8, 2}, ext: ext{7, 3}, index: 6}
	f.Add(h3.encode(), uint64(100))
	h4 := &header{path: "/v3", typ: Int32, shape: []uint64{3}, max: []uint64{Unlimited}, chunk: []uint64{1024}, ext: ext{2, 5}, addr0: 4096}
	f.Add(h4.encode(), uint64(100))
	f.Fuzz(func(t *testing.T, p []byte, eoa uint64) {
		for _, v := range []uint16{headerV1, headerV2, headerV3} {
			h, err := decodeHeader(p, v, eoa, 512)
			mustCorrupt(t, err)
			if err == nil && !bytes.Equal(h.encode(), p) {
				t.Fatalf("version %d header re-encodes differently", v)
			}
		}
	})
}

func FuzzBlock(f *testing.F) {
	b := newBlock(3)
	for _, h := range []*header{
		{path: "/a", typ: Int32, shape: []uint64{3}, max: []uint64{Unlimited}, chunk: []uint64{1024}, ext: ext{2, 5}, addr0: 4096},
		{path: "/b", typ: Float64, shape: []uint64{5, 2}, max: []uint64{Unlimited, 2}, chunk: []uint64{8, 2}, ext: ext{7, 3}, index: 6,
			attrs: []attr{{"a", IntValue(1)}}},
	} {
		b.join(&Dataset{path: h.path, h: h}, 4096)
	}
	f.Add(b.encode(), uint64(100))
	f.Fuzz(func(t *testing.T, p []byte, eoa uint64) {
		entries, err := decodeBlock(p, eoa, 512)
		mustCorrupt(t, err)
		if err != nil {
			return
		}
		for _, e := range entries {
			if !bytes.Equal(e.h.encode(), e.raw) {
				t.Fatalf("header %q re-encodes differently", e.h.path)
			}
		}
		if !bytes.Equal(blockOf(3, entries).encode(), p) {
			t.Fatalf("block re-encodes differently")
		}
	})
}

func FuzzExtent(f *testing.F) {
	f.Add((&extTable{vals: []uint64{3, 0, Unlimited}}).encode())
	f.Fuzz(func(t *testing.T, p []byte) {
		vals, err := decodeExtent(p, 512)
		mustCorrupt(t, err)
		if err == nil && !bytes.Equal((&extTable{vals: vals}).encode(), p) {
			t.Fatalf("extent table re-encodes differently")
		}
	})
}

func FuzzFreeList(f *testing.F) {
	var e enc
	e.u32(2)
	for _, v := range []uint64{3, 2, 9, 1} {
		e.u64(v)
	}
	f.Add(e.b, uint64(20))
	f.Fuzz(func(t *testing.T, p []byte, eoa uint64) {
		free, err := decodeFreeList(p, eoa)
		mustCorrupt(t, err)
		if err == nil {
			var e enc
			e.u32(uint32(len(free)))
			for _, x := range free {
				e.u64(x.page)
				e.u64(x.n)
			}
			if !bytes.Equal(e.b, p) {
				t.Fatalf("free list re-encodes differently")
			}
		}
	})
}

// FuzzOpen opens whole file images read-only and reads everything: never
// a panic. (Mutations rarely pass the checksums; the decoders behind them
// have their own targets above.)
func FuzzOpen(f *testing.F) {
	f.Fuzz(func(t *testing.T, img []byte) {
		raw := &memFile{b: img}
		pages := memPages{raw: raw, ps: 512}
		if ps, err := sbPrefix(img); err == nil {
			pages.ps = ps
		}
		fl, err := Open(pages, raw, Options{ReadOnly: true})
		if err != nil {
			return
		}
		infos, err := fl.Datasets()
		if err != nil {
			return
		}
		for _, in := range infos {
			ds, err := fl.Dataset(in.Path)
			if err != nil {
				continue
			}
			n := total(in.Spec.Shape) * uint64(in.Spec.Type.Size())
			if n <= 1<<20 {
				ds.ReadSlab(make([]uint64, len(in.Spec.Shape)), in.Spec.Shape, make([]byte, n))
			}
			ds.Attrs()
		}
		fl.Check(CheckOptions{Closed: true})
	})
}

// memPages serves pages straight from an in-memory image, read-only.
type memPages struct {
	raw *memFile
	ps  int
}

func (m memPages) Read(page uint64, npages int) ([]byte, error) {
	p := make([]byte, npages*m.ps)
	if page > uint64(len(m.raw.b)) {
		return nil, io.ErrUnexpectedEOF
	}
	if _, err := m.raw.ReadAt(p, int64(page)*int64(m.ps)); err != nil {
		return nil, io.ErrUnexpectedEOF
	}
	return p, nil
}

func (m memPages) Write(uint64, []byte, bool) error { return ErrReadOnly }
func (m memPages) WriteUsed(uint64, []byte, int, bool) error {
	return ErrReadOnly
}
func (m memPages) Free(uint64, int) {}

// memFile is a read-only vfs.File over bytes.
type memFile struct{ b []byte }

func (m *memFile) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off >= int64(len(m.b)) {
		return 0, io.EOF
	}
	n := copy(p, m.b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
func (m *memFile) WriteAt([]byte, int64) (int, error) { return 0, ErrReadOnly }
func (m *memFile) Size() (int64, error)               { return int64(len(m.b)), nil }
func (m *memFile) Truncate(int64) error               { return ErrReadOnly }
func (m *memFile) Sync() error                        { return nil }
func (m *memFile) Close() error                       { return nil }
func (m *memFile) Name() string                       { return "mem" }
