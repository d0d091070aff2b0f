package pfile

import (
	"bytes"
	"errors"
	"testing"

	"pwstore/internal/storage/corrupt"
)

// TestSingleChunk: a dataset whose shape covers at most chunk 0 has no
// chunk index pages (a version 3 header holds chunk 0's address); the
// first growth into another chunk makes its index, keeps chunk 0's bytes
// and rewrites the header as version 2. Extensible, fixed, and
// multi-dimensional datasets alike; the file checks at every stage and
// reads back what was written.
func TestSingleChunk(t *testing.T) {
	for _, c := range []struct {
		name  string
		spec  Spec
		grown []uint64 // a shape covering a second chunk; nil: none exists
	}{
		{"extensible", Spec{Type: Int64, Shape: []uint64{0}, MaxShape: []uint64{Unlimited}, Chunk: []uint64{4}}, []uint64{9}},
		{"fixed", Spec{Type: Int32, Shape: []uint64{3}, MaxShape: []uint64{10}, Chunk: []uint64{4}}, []uint64{10}},
		{"2-d", Spec{Type: Float64, Shape: []uint64{1, 2}, MaxShape: []uint64{Unlimited, 6}, Chunk: []uint64{2, 3}}, []uint64{1, 5}},
		{"one chunk", Spec{Type: Int8, Shape: []uint64{5}}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := tempPath(t, "single.pw")
			h := createFile(t, path, Options{PageSize: 512})
			ds, err := h.f.CreateDataset("/d", c.spec)
			if err != nil {
				t.Fatal(err)
			}
			if !ds.h.single() || ds.h.kind().version != headerV3 {
				t.Fatalf("new dataset: index page %d, header version %d; want a single-chunk header", ds.h.index, ds.h.kind().version)
			}
			shape := clip(c.spec.Shape)
			if shape[0] == 0 {
				shape[0] = 1
				if err := ds.Resize(shape); err != nil {
					t.Fatal(err)
				}
			}
			if ds.h.addr0 == 0 || !ds.h.single() {
				t.Fatalf("after covering chunk 0: addr0 %d, index %d", ds.h.addr0, ds.h.index)
			}
			if h.f.al.idxNext != 0 {
				t.Fatal("a chunk index page was allocated for a single chunk")
			}
			want := fill(t, ds, shape, 1)
			if err := h.f.Check(CheckOptions{}); err != nil {
				t.Fatal(err)
			}
			if c.grown != nil {
				if err := ds.Resize(c.grown); err != nil {
					t.Fatal(err)
				}
				if ds.h.single() || ds.h.kind().version != headerV2 || h.f.al.idxNext == 0 {
					t.Fatalf("grown past chunk 0: index page %d, header version %d; want an index", ds.h.index, ds.h.kind().version)
				}
				// Chunk 0's bytes are where they were: the index took over its record.
				got := make([]byte, len(want))
				if err := ds.ReadSlab(make([]uint64, len(shape)), shape, got); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("chunk 0 after the index was made: %x, want %x", got, want)
				}
				shape = clip(c.grown)
				want = fill(t, ds, shape, 2)
			} else if err := ds.Resize(shape); err != nil {
				t.Fatal(err)
			}
			if err := h.f.Check(CheckOptions{}); err != nil {
				t.Fatal(err)
			}
			h.close(t)
			checkClosed(t, path)
			readsBack(t, path, map[string][]byte{"/d": want}, map[string][]uint64{"/d": shape})
		})
	}
}

// fill writes the whole shape of ds with values of seed and returns them.
func fill(t *testing.T, ds *Dataset, shape []uint64, seed uint64) []byte {
	t.Helper()
	n := uint64(ds.h.typ.Size())
	for _, d := range shape {
		n *= d
	}
	data := make([]byte, n)
	elemBytes(data, seed, 0)
	if err := ds.WriteSlab(make([]uint64, len(shape)), shape, data); err != nil {
		t.Fatal(err)
	}
	return data
}

// TestSingleChunkHeaderCorrupt: a single-chunk index kind outside version
// 3, a version 3 header with another kind, and chunk 0 outside the file
// are each corruption.
func TestSingleChunkHeaderCorrupt(t *testing.T) {
	const ps, eoa = 512, 20
	one := func() *header {
		return &header{path: "/s", typ: Int64, max: []uint64{Unlimited}, chunk: []uint64{8}, ext: ext{3, 0}, addr0: 5 * ps}
	}
	if _, err := decodeHeader(one().encode(), headerV3, eoa, ps); err != nil {
		t.Fatalf("a sound single-chunk header: %v", err)
	}
	indexed := one()
	indexed.index, indexed.addr0 = 4, 0
	for _, c := range []struct {
		name    string
		p       []byte
		version uint16
	}{
		{"single kind in version 2", one().encode(), headerV2},
		{"index kind in version 3", indexed.encode(), headerV3},
		{"chunk 0 in the superblock", func() []byte { h := one(); h.addr0 = 8; return h.encode() }(), headerV3},
		{"chunk 0 past the end", func() []byte { h := one(); h.addr0 = eoa*ps - 8; return h.encode() }(), headerV3},
	} {
		if _, err := decodeHeader(c.p, c.version, eoa, ps); !errors.Is(err, corrupt.Err) {
			t.Errorf("%s: %v, want corruption", c.name, err)
		}
	}
}
