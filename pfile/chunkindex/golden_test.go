package chunkindex

import (
	"bytes"
	"fmt"
	"testing"

	"pwstore/internal/tool/golden"
)

// goldenRecord is the record the golden indexes hold for chunk i.
func goldenRecord(i uint64) Record { return Record{Addr: 4096 + 512*i, Size: 512 - i} }

// goldenRecords is how many chunks the golden indexes hold: more than the
// root's direct slots, so super and data pages exist too.
const goldenRecords = 40

// buildGolden writes an index of kind with goldenRecords records to a
// memory store of 512-byte pages and returns it and its root page.
func buildGolden(t *testing.T, kind Kind) (*memStore, uint64) {
	st := newMemStore(512)
	var idx interface {
		Set(uint64, Record) error
		Root() uint64
	}
	if kind == KindFixed {
		root, err := CreateFixed(st, goldenRecords)
		if err != nil {
			t.Fatal(err)
		}
		if idx, err = OpenFixed(st, root, goldenRecords); err != nil {
			t.Fatal(err)
		}
	} else {
		root, err := CreateExtensible(st)
		if err != nil {
			t.Fatal(err)
		}
		if idx, err = OpenExtensible(st, root); err != nil {
			t.Fatal(err)
		}
	}
	for i := range uint64(goldenRecords) {
		if err := idx.Set(i, goldenRecord(i)); err != nil {
			t.Fatal(err)
		}
	}
	return st, idx.Root()
}

// image is the store's pages from page 1 on, in page order; pages never
// written are zeros.
func (m *memStore) image() []byte {
	out := make([]byte, (m.next-1)*uint64(m.pageSize))
	for p, b := range m.pages {
		copy(out[(p-1)*uint64(m.pageSize):], b)
	}
	return out
}

// blockDesc is what a decoder read from one block.
type blockDesc struct {
	Page     uint64
	Magic    string
	N        uint64      `json:",omitempty"` // root of a fixed array
	Extents  [][2]uint64 `json:",omitempty"` // root: {start, hwm} of the allocated extents, by index
	ExtentAt []int       `json:",omitempty"` // ... and their indexes
	Records  []Record    `json:",omitempty"` // root: direct records; data page: records
	Owner    uint64      `json:",omitempty"` // super and data pages
	Extent   int         `json:",omitempty"` // super page: s
	Pos      int         `json:",omitempty"` // super page: j
	Pointers []uint64    `json:",omitempty"` // super page: data page pointers up to the last
	First    uint64      `json:",omitempty"` // data page: first chunk
}

// decodeBlock decodes one block with the decoder of its magic and
// describes it.
func decodeBlock(b []byte, g geometry, page uint64) (blockDesc, error) {
	d := blockDesc{Page: page, Magic: string(b[:4])}
	switch [4]byte(b[:4]) {
	case magicFixedRoot, magicExtensibleRoot:
		n := le.Uint64(b[rootN:])
		r, err := decodeRoot(b, g, page, n)
		if err != nil {
			return d, err
		}
		d.N = n
		for s := range g.extents {
			if start, hwm := r.extent(s); start != 0 {
				d.Extents = append(d.Extents, [2]uint64{start, uint64(hwm)})
				d.ExtentAt = append(d.ExtentAt, s)
			}
		}
		for i := range r.directCount() {
			d.Records = append(d.Records, r.direct(i))
		}
	case magicSuper:
		d.Owner, d.Extent, d.Pos = le.Uint64(b[superOwner:]), int(le.Uint32(b[superExtent:])), int(le.Uint32(b[superPos:]))
		sp, err := decodeSuper(b, g, page, d.Owner, d.Extent, d.Pos)
		if err != nil {
			return d, err
		}
		for k := range sp.last() + 1 {
			d.Pointers = append(d.Pointers, sp.pointer(k))
		}
	case magicData:
		d.Owner, d.First = le.Uint64(b[dataOwner:]), le.Uint64(b[dataFirst:])
		dp, err := decodeData(b, g, page, d.Owner, d.First)
		if err != nil {
			return d, err
		}
		for r := range dp.count() {
			d.Records = append(d.Records, dp.record(r))
		}
	default:
		return d, fmt.Errorf("page %d: magic %q", page, b[:4])
	}
	return d, nil
}

// encodeBlock builds a block from its description with the encoders.
func encodeBlock(d blockDesc, g geometry) []byte {
	switch d.Magic {
	case string(magicFixedRoot[:]), string(magicExtensibleRoot[:]):
		r := newRoot(g, d.Page, d.N)
		for i, s := range d.ExtentAt {
			r.setExtent(s, d.Extents[i][0], int(d.Extents[i][1]))
		}
		for i, rec := range d.Records {
			r.setDirect(i, rec)
		}
		return seal(r.b)
	case string(magicSuper[:]):
		sp := newSuper(g, d.Owner, d.Extent, d.Pos, d.Page)
		for k, p := range d.Pointers {
			sp.setPointer(k, p)
		}
		return seal(sp.b)
	default:
		dp := newData(g, d.Owner, d.First, d.Page)
		for r, rec := range d.Records {
			dp.set(r, rec)
		}
		return seal(dp.b)
	}
}

// TestGolden pins the chunk index blocks: the code writes the golden
// bytes, every block decodes to the golden values and re-encodes to the
// same bytes, and the index read from the golden bytes returns every
// record.
func TestGolden(t *testing.T) {
	for _, kind := range []Kind{KindFixed, KindExtensible} {
		t.Run(kind.String(), func(t *testing.T) {
			st, root := buildGolden(t, kind)
			img := golden.Bytes(t, kind.String()+"-index.bin", st.image())
			g, err := newGeometry(512, kind)
			if err != nil {
				t.Fatal(err)
			}
			var descs []blockDesc
			loaded := newMemStore(512)
			for off := 0; off+512 <= len(img); off += 512 {
				page, b := uint64(off/512+1), img[off:off+512]
				loaded.next = page + 1
				if bytes.Equal(b, make([]byte, 512)) {
					continue // allocated, never written
				}
				loaded.poke(page, b)
				d, err := decodeBlock(b, g, page)
				if err != nil {
					t.Fatal(err)
				}
				descs = append(descs, d)
				if again := encodeBlock(d, g); !bytes.Equal(again, b) {
					t.Errorf("page %d (%s) re-encodes differently", page, d.Magic)
				}
			}
			golden.JSON(t, kind.String()+"-index.json", descs)
			var get func(uint64) (Record, error)
			if kind == KindFixed {
				f, err := OpenFixed(loaded, root, goldenRecords)
				if err != nil {
					t.Fatal(err)
				}
				get = f.Get
			} else {
				e, err := OpenExtensible(loaded, root)
				if err != nil {
					t.Fatal(err)
				}
				get = e.Get
			}
			for i := range uint64(goldenRecords) {
				if rec, err := get(i); err != nil || rec != goldenRecord(i) {
					t.Fatalf("record %d: %+v, %v; want %+v", i, rec, err, goldenRecord(i))
				}
			}
		})
	}
}
