package chunkindex

import (
	"errors"
	"slices"
	"testing"

	"pwstore/internal/storage/corrupt"
)

// built is an index in a memStore, with the records it holds.
type built struct {
	st    *memStore
	root  uint64
	kind  Kind
	n     uint64
	model map[uint64]Record
}

func buildExtensible(t testing.TB) built {
	st := newMemStore(512)
	root, err := CreateExtensible(st)
	if err != nil {
		t.Fatal(err)
	}
	ix, _ := OpenExtensible(st, root)
	model := map[uint64]Record{}
	g := ix.t.g
	idx := sparseIndices(g, 40_000, 60, 3)
	for i := range uint64(100) {
		idx = append(idx, i)
	}
	for _, i := range idx {
		if err := ix.Set(i, rec(i)); err != nil {
			t.Fatal(err)
		}
		model[i] = rec(i)
	}
	return built{st: st, root: root, kind: KindExtensible, model: model}
}

func buildFixed(t testing.TB) built {
	st := newMemStore(512)
	const n = 5000
	root, err := CreateFixed(st, n)
	if err != nil {
		t.Fatal(err)
	}
	ix, _ := OpenFixed(st, root, n)
	model := map[uint64]Record{}
	for _, i := range sparseIndices(ix.t.g, n, 80, 5) {
		if err := ix.Set(i, rec(i)); err != nil {
			t.Fatal(err)
		}
		model[i] = rec(i)
	}
	return built{st: st, root: root, kind: KindFixed, n: n, model: model}
}

func (b built) open() (Index, error) {
	if b.kind == KindFixed {
		return OpenFixed(b.st, b.root, b.n)
	}
	return OpenExtensible(b.st, b.root)
}

// TestCorruptByte flips bytes in every block of both kinds: Check must
// report corruption, and every Get must return the right record or an
// error wrapping corrupt.Err, never a wrong record or a panic.
func TestCorruptByte(t *testing.T) {
	for _, b := range []built{buildExtensible(t), buildFixed(t)} {
		pages := slices.Sorted(func(yield func(uint64) bool) {
			for p := range b.st.pages {
				if !yield(p) {
					return
				}
			}
		})
		if len(pages) < 4 {
			t.Fatalf("%v index has only %d blocks", b.kind, len(pages))
		}
		ps := b.st.pageSize
		for _, p := range pages {
			orig := b.st.pages[p]
			for _, off := range []int{0, 3, 4, 5, 8, 12, 16, 24, 33, 47, 48, 100, ps / 2, ps - 9, ps - 8, ps - 1} {
				bad := clone(orig)
				bad[off] ^= 0x5a
				b.st.poke(p, bad)
				if _, err := Check(b.st, b.root, b.kind, b.n); !errors.Is(err, corrupt.Err) {
					t.Fatalf("%v: byte %d of page %d flipped: Check says %v", b.kind, off, p, err)
				}
				ix, err := b.open()
				if err != nil {
					if !errors.Is(err, corrupt.Err) {
						t.Fatalf("%v: byte %d of page %d flipped: Open says %v", b.kind, off, p, err)
					}
					continue
				}
				for i, want := range b.model {
					got, err := ix.Get(i)
					if err != nil && !errors.Is(err, corrupt.Err) {
						t.Fatalf("Get(%d): %v", i, err)
					}
					if err == nil && got != want {
						t.Fatalf("%v: byte %d of page %d flipped: Get(%d) = %+v, want %+v", b.kind, off, p, i, got, want)
					}
				}
			}
			b.st.poke(p, orig)
		}
		if _, err := Check(b.st, b.root, b.kind, b.n); err != nil {
			t.Fatalf("restored index: %v", err)
		}
	}
}

// TestSentinels: each kind of damage gets its own sentinel. Damage other
// than to the checksum is resealed so that the field check is what fails.
func TestSentinels(t *testing.T) {
	b := buildExtensible(t)
	g, _ := newGeometry(512, KindExtensible)
	r, err := decodeRoot(b.st.pages[b.root], g, b.root, 0)
	if err != nil {
		t.Fatal(err)
	}
	start, _ := r.extent(0)
	sp, err := decodeSuper(b.st.pages[start], g, start, b.root, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	dpage := sp.pointer(sp.last())

	cases := []struct {
		name   string
		page   uint64
		change func(img []byte) []byte
		want   error
	}{
		{"root magic", b.root, func(m []byte) []byte { m[0] = 'X'; return m }, ErrMagic},
		{"root version", b.root, func(m []byte) []byte { m[4] = 2; return seal(m) }, ErrVersion},
		{"root checksum", b.root, func(m []byte) []byte { m[200] ^= 1; return m }, ErrChecksum},
		{"root length", b.root, func(m []byte) []byte { return m[:256] }, ErrBounds},
		{"root self", b.root, func(m []byte) []byte { le.PutUint64(m[rootSelf:], 99); return seal(m) }, ErrMismatch},
		{"root page size", b.root, func(m []byte) []byte { le.PutUint32(m[rootPageSize:], 4096); return seal(m) }, ErrMismatch},
		{"root hwm", b.root, func(m []byte) []byte { le.PutUint32(m[rootHeader+8:], 2); return seal(m) }, ErrBounds},
		{"root direct count", b.root, func(m []byte) []byte { le.PutUint32(m[rootDirectCount:], 99); return seal(m) }, ErrBounds},
		{"root reserved", b.root, func(m []byte) []byte { m[6] = 1; return seal(m) }, ErrBounds},
		{"super magic", start, func(m []byte) []byte { m[1] = 'Q'; return m }, ErrMagic},
		{"super checksum", start, func(m []byte) []byte { m[30] ^= 1; return m }, ErrChecksum},
		{"super owner", start, func(m []byte) []byte { le.PutUint64(m[superOwner:], 77); return seal(m) }, ErrMismatch},
		{"super position", start, func(m []byte) []byte { le.PutUint32(m[superPos:], 1); return seal(m) }, ErrMismatch},
		{"super pointer to root", start, func(m []byte) []byte { le.PutUint64(m[superHeader:], b.root); return seal(m) }, ErrMagic},
		{"data version", dpage, func(m []byte) []byte { m[4] = 0; return seal(m) }, ErrVersion},
		{"data checksum", dpage, func(m []byte) []byte { m[511] ^= 1; return m }, ErrChecksum},
		{"data count", dpage, func(m []byte) []byte { le.PutUint32(m[dataCount:], 0); return seal(m) }, ErrBounds},
		{"data count high", dpage, func(m []byte) []byte { le.PutUint32(m[dataCount:], 30); return seal(m) }, ErrBounds},
		{"data first", dpage, func(m []byte) []byte { le.PutUint64(m[dataFirst:], 5); return seal(m) }, ErrMismatch},
	}
	for _, c := range cases {
		orig := b.st.pages[c.page]
		b.st.poke(c.page, c.change(clone(orig)))
		_, err := Check(b.st, b.root, KindExtensible, 0)
		if !errors.Is(err, c.want) || !errors.Is(err, corrupt.Err) {
			t.Errorf("%s: Check says %v, want %v", c.name, err, c.want)
		}
		b.st.poke(c.page, orig)
	}
}

// TestCheckOverlap: a data page pointer into the unwritten part of an
// extent decodes fine but overlaps the extent; Check must say so.
func TestCheckOverlap(t *testing.T) {
	st := newMemStore(512)
	root, _ := CreateExtensible(st)
	ix, _ := OpenExtensible(st, root)
	g := ix.t.g
	first := uint64(g.direct) + g.perPage // first chunk of extent 1 (two super pages)
	if err := ix.Set(first, rec(first)); err != nil {
		t.Fatal(err)
	}
	if _, err := Check(st, root, KindExtensible, 0); err != nil {
		t.Fatal(err)
	}
	r, _ := decodeRoot(st.pages[root], g, root, 0)
	start, hwm := r.extent(1)
	if hwm != 1 {
		t.Fatalf("extent 1 has %d pages in use", hwm)
	}
	sp, _ := decodeSuper(st.pages[start], g, start, root, 1, 0)
	old := sp.pointer(0)
	moved := start + 1 // allocated to the extent, not yet written
	st.poke(moved, st.pages[old])
	img := clone(st.pages[start])
	le.PutUint64(img[superHeader:], moved)
	st.poke(start, seal(img))
	if got, err := ix.Get(first); err != nil || got != rec(first) {
		t.Fatalf("Get through the moved pointer = %+v, %v", got, err)
	}
	if _, err := Check(st, root, KindExtensible, 0); !errors.Is(err, ErrBounds) || !errors.Is(err, corrupt.Err) {
		t.Fatalf("Check with overlapping blocks: %v", err)
	}
}
