package chunkindex

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
)

// rec is the record a test stores at i: a function of i, never zero.
func rec(i uint64) Record { return Record{Addr: 1<<40 + i*4096, Size: i%7919 + 1} }

// sparseIndices is a reproducible sparse pattern in [0, limit), with the
// boundaries of the direct slots, super pages and extents for geometry g.
func sparseIndices(g geometry, limit uint64, count int, seed uint64) []uint64 {
	rnd := rand.New(rand.NewPCG(seed, 1))
	var out []uint64
	for range count {
		out = append(out, rnd.Uint64N(limit))
	}
	d := uint64(g.direct)
	for s := range 40 {
		b := d + g.perPage*(1<<s-1) // first chunk of extent s
		out = append(out, b-1, b, b+1, b+uint64(g.perData), b+g.perPage)
	}
	out = append(out, 0, d-1, d, limit-1)
	return slices.DeleteFunc(out, func(i uint64) bool { return i >= limit })
}

// verify checks ix against the model at every set index and around it.
func verify(t *testing.T, ix Index, model map[uint64]Record) {
	t.Helper()
	for i, want := range model {
		for _, j := range []uint64{i - 1, i, i + 1} {
			if j == ^uint64(0) || (j != i && j >= ix.Len()) {
				continue
			}
			got, err := ix.Get(j)
			if err != nil {
				t.Fatalf("Get(%d): %v", j, err)
			}
			w, ok := model[j]
			if j == i {
				w, ok = want, true
			}
			if !ok {
				w = Record{}
			}
			if got != w {
				t.Fatalf("Get(%d) = %+v, want %+v", j, got, w)
			}
		}
	}
}

func modelLen(model map[uint64]Record) uint64 {
	var n uint64
	for i := range model {
		n = max(n, i+1)
	}
	return n
}

// checkTiles asserts that Check's extents are sorted, do not overlap, and
// cover exactly the pages the index allocated: [1, next).
func checkTiles(t *testing.T, pages []Extent, next uint64) {
	t.Helper()
	at := uint64(1)
	for _, x := range pages {
		if x.Page != at || x.NPages < 1 {
			t.Fatalf("extent %v, want one starting at page %d (extents %v)", x, at, pages)
		}
		at += uint64(x.NPages)
	}
	if at != next {
		t.Fatalf("extents end at page %d, allocated up to %d", at, next)
	}
}

func TestExtensibleRoundTripFile(t *testing.T) {
	for _, ps := range []int{512, 4096} {
		g, _ := newGeometry(ps, KindExtensible)
		for _, pattern := range []string{"dense", "sparse"} {
			t.Run(pattern+"/"+strconv.Itoa(ps), func(t *testing.T) {
				st := newFileStore(t, ps)
				root, err := CreateExtensible(st)
				if err != nil {
					t.Fatal(err)
				}
				ix, err := OpenExtensible(st, root)
				if err != nil {
					t.Fatal(err)
				}
				if ix.Len() != 0 || ix.Root() != root {
					t.Fatalf("new array: Len %d Root %d", ix.Len(), ix.Root())
				}
				var idx []uint64
				if pattern == "dense" {
					for i := range uint64(30000 * 512 / ps) {
						idx = append(idx, i)
					}
				} else {
					idx = sparseIndices(g, 5_000_000, 3000, uint64(ps))
				}
				model := map[uint64]Record{}
				for _, i := range idx {
					if err := ix.Set(i, rec(i)); err != nil {
						t.Fatalf("Set(%d): %v", i, err)
					}
					model[i] = rec(i)
				}
				if ix.Len() != modelLen(model) {
					t.Fatalf("Len %d, want %d", ix.Len(), modelLen(model))
				}
				verify(t, ix, model)

				// A reader: same file opened read-only, through a Store
				// that refuses writes.
				rd := readOnly{reopenFileStore(t, st)}
				again, err := OpenExtensible(rd, root)
				if err != nil {
					t.Fatal(err)
				}
				if again.Len() != ix.Len() {
					t.Fatalf("reopened Len %d, want %d", again.Len(), ix.Len())
				}
				verify(t, again, model)
				if got, err := again.Get(1 << 62); err != nil || got != (Record{}) {
					t.Fatalf("Get far past the end = %+v, %v", got, err)
				}
				if err := again.Set(0, rec(0)); !errors.Is(err, errReadOnly) {
					t.Fatalf("Set through a read-only store: %v", err)
				}

				pages, err := Check(rd, root, KindExtensible, 0)
				if err != nil {
					t.Fatal(err)
				}
				checkTiles(t, pages, st.next)
			})
		}
	}
}

func TestFixedRoundTripFile(t *testing.T) {
	const ps = 512
	g, _ := newGeometry(ps, KindFixed)
	d := uint64(g.direct)
	for _, n := range []uint64{0, 1, d, d + 1, d + 3*g.perPage + 5, 1_000_000} {
		t.Run(strconv.Itoa(int(n)), func(t *testing.T) {
			st := newFileStore(t, ps)
			root, err := CreateFixed(st, n)
			if err != nil {
				t.Fatal(err)
			}
			ix, err := OpenFixed(st, root, n)
			if err != nil {
				t.Fatal(err)
			}
			var idx []uint64
			if n <= 10000 {
				idx = make([]uint64, n)
				for i := range idx {
					idx[i] = uint64(i)
				}
				rand.New(rand.NewPCG(n, 2)).Shuffle(len(idx), func(a, b int) { idx[a], idx[b] = idx[b], idx[a] })
			} else {
				idx = sparseIndices(g, n, 2000, n)
			}
			model := map[uint64]Record{}
			for _, i := range idx {
				if err := ix.Set(i, rec(i)); err != nil {
					t.Fatalf("Set(%d): %v", i, err)
				}
				model[i] = rec(i)
			}
			if ix.Len() != n {
				t.Fatalf("Len %d, want %d", ix.Len(), n)
			}
			if err := ix.Set(n, rec(n)); !errors.Is(err, ErrRange) {
				t.Fatalf("Set(n): %v", err)
			}
			if _, err := ix.Get(n); !errors.Is(err, ErrRange) {
				t.Fatalf("Get(n): %v", err)
			}
			rd := readOnly{reopenFileStore(t, st)}
			again, err := OpenFixed(rd, root, n)
			if err != nil {
				t.Fatal(err)
			}
			verify(t, again, model)
			if _, err := OpenFixed(rd, root, n+1); !errors.Is(err, ErrMismatch) {
				t.Fatalf("OpenFixed with the wrong n: %v", err)
			}
			if _, err := OpenExtensible(rd, root); !errors.Is(err, ErrMagic) {
				t.Fatalf("OpenExtensible on a fixed array: %v", err)
			}
			pages, err := Check(rd, root, KindFixed, n)
			if err != nil {
				t.Fatal(err)
			}
			checkTiles(t, pages, st.next)
		})
	}
}

// TestLen: Len is one past the highest index ever set, also when the
// record set there is zero, and Open derives the same value.
func TestLen(t *testing.T) {
	g, _ := newGeometry(512, KindExtensible)
	cases := [][]uint64{
		{},
		{0},
		{3},
		{uint64(g.direct)},
		{uint64(g.direct) + g.perPage*7 + 3, 5},
		{9_999_999, 12, 400_000},
		{123_456_789, 1},
	}
	for _, idx := range cases {
		st := newMemStore(512)
		root, err := CreateExtensible(st)
		if err != nil {
			t.Fatal(err)
		}
		ix, _ := OpenExtensible(st, root)
		var want uint64
		for _, i := range idx {
			if err := ix.Set(i, Record{}); err != nil {
				t.Fatal(err)
			}
			want = max(want, i+1)
		}
		again, err := OpenExtensible(st, root)
		if err != nil {
			t.Fatal(err)
		}
		if ix.Len() != want || again.Len() != want {
			t.Fatalf("after Sets at %v: Len %d, reopened %d, want %d", idx, ix.Len(), again.Len(), want)
		}
	}
}

// TestWriteCost: an append rewrites one page; a new data page adds its
// super page; a new super page adds the root. Nothing is read but the
// root, one super page and one data page.
func TestWriteCost(t *testing.T) {
	st := newMemStore(512)
	root, _ := CreateExtensible(st)
	ix, _ := OpenExtensible(st, root)
	g := ix.t.g
	for i := range uint64(3 * g.perPage) {
		w, r := st.writes, st.reads
		if err := ix.Set(i, rec(i)); err != nil {
			t.Fatal(err)
		}
		want := 1
		if i >= uint64(g.direct) {
			rel := i - uint64(g.direct)
			if rel%uint64(g.perData) == 0 {
				want = 2 // new data page + its super page
			}
			if rel%g.perPage == 0 {
				want = 3 // ... + the root
			}
		}
		if got := st.writes - w; got != want {
			t.Fatalf("Set(%d) wrote %d pages, want %d", i, got, want)
		}
		if got := st.reads - r; got > 3 {
			t.Fatalf("Set(%d) read %d pages", i, got)
		}
	}
}

// TestGapCost: a first Set far past the end writes at most i/(E*R) empty
// super pages besides its data page, super page and root.
func TestGapCost(t *testing.T) {
	for _, i := range []uint64{1_000, 100_000, 3_000_000, 50_000_000} {
		st := newMemStore(512)
		root, _ := CreateExtensible(st)
		ix, _ := OpenExtensible(st, root)
		w := st.writes
		if err := ix.Set(i, rec(i)); err != nil {
			t.Fatal(err)
		}
		if got, most := uint64(st.writes-w), i/ix.t.g.perPage+3; got > most {
			t.Fatalf("Set(%d) wrote %d pages, bound %d", i, got, most)
		}
	}
}

func TestDeterminism(t *testing.T) {
	run := func(t *testing.T) (*memStore, []byte) {
		st := newMemStore(512)
		fs := newFileStore(t, 512)
		g, _ := newGeometry(512, KindExtensible)
		for _, s := range []Store{st, fs} {
			root, _ := CreateExtensible(s)
			ix, _ := OpenExtensible(s, root)
			for i := range uint64(5000) {
				ix.Set(i, rec(i))
			}
			for _, i := range sparseIndices(g, 3_000_000, 500, 9) {
				if err := ix.Set(i, rec(i)); err != nil {
					t.Fatal(err)
				}
			}
			fr, _ := CreateFixed(s, 100_000)
			fx, _ := OpenFixed(s, fr, 100_000)
			for _, i := range sparseIndices(g, 100_000, 300, 4) {
				if err := fx.Set(i, rec(i)); err != nil {
					t.Fatal(err)
				}
			}
		}
		b, err := os.ReadFile(fs.f.Name())
		if err != nil {
			t.Fatal(err)
		}
		return st, b
	}
	a, fa := run(t)
	b, fb := run(t)
	if !slices.Equal(a.allocs, b.allocs) || !slices.Equal(a.written, b.written) {
		t.Fatal("two runs made different Alloc calls or wrote different pages")
	}
	for p, img := range a.pages {
		if !bytes.Equal(img, b.pages[p]) {
			t.Fatalf("page %d differs between runs", p)
		}
	}
	if !bytes.Equal(fa, fb) {
		t.Fatal("two runs wrote different files")
	}
}

func TestBadArguments(t *testing.T) {
	for _, ps := range []int{0, 256, 1000, 2 << 20} {
		if _, err := CreateExtensible(newMemStore(ps)); !errors.Is(err, ErrPageSize) {
			t.Fatalf("page size %d: %v", ps, err)
		}
	}
	if _, err := CreateFixed(newMemStore(512), ^uint64(0)); !errors.Is(err, ErrRange) {
		t.Fatalf("huge fixed array: %v", err)
	}
	st := newMemStore(512)
	root, _ := CreateExtensible(st)
	ix, _ := OpenExtensible(st, root)
	if err := ix.Set(^uint64(0), rec(1)); !errors.Is(err, ErrRange) {
		t.Fatalf("Set(max) at 512 B pages: %v", err)
	}
}

// TestRandomOps drives both kinds with a random mix of Sets (clustered,
// scattered, overwrites, zero records) and Gets against a model, reopening
// now and then, at several page sizes.
// ownStore is a memStore that says only the index writes its pages.
type ownStore struct{ *memStore }

func (ownStore) Owns() bool { return true }

// TestOwnerKeepsRoot: over an owning Store a lookup of a direct slot
// reads nothing after the first, and the root's changes are still seen.
func TestOwnerKeepsRoot(t *testing.T) {
	ms := newMemStore(512)
	root, err := CreateExtensible(ownStore{ms})
	if err != nil {
		t.Fatal(err)
	}
	ix, err := OpenExtensible(ownStore{ms}, root)
	if err != nil {
		t.Fatal(err)
	}
	for i := range uint64(3) {
		if err := ix.Set(i, Record{Addr: 100 + i, Size: 1}); err != nil {
			t.Fatal(err)
		}
		reads := ms.reads
		for j := range i + 1 {
			if got, err := ix.Get(j); err != nil || got.Addr != 100+j {
				t.Fatalf("Get(%d) = %+v, %v", j, got, err)
			}
		}
		if ms.reads != reads {
			t.Fatalf("%d Store reads for lookups of direct slots", ms.reads-reads)
		}
	}
}

// TestNewReadsNothing: NewExtensible and NewFixed return an index that
// works without reading back the root they wrote, over an owning Store
// and over one that is not, and whose records OpenExtensible and
// OpenFixed then find.
func TestNewReadsNothing(t *testing.T) {
	for _, own := range []bool{false, true} {
		ms := newMemStore(512)
		var st Store = ms
		if own {
			st = ownStore{ms}
		}
		ex, err := NewExtensible(st)
		if err != nil {
			t.Fatal(err)
		}
		fx, err := NewFixed(st, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if ms.reads != 0 {
			t.Fatalf("own %v: %d Store reads by New", own, ms.reads)
		}
		for i := range uint64(500) {
			for _, ix := range []Index{ex, fx} {
				if err := ix.Set(i, Record{Addr: 100 + i, Size: 1}); err != nil {
					t.Fatal(err)
				}
			}
		}
		ex2, err := OpenExtensible(st, ex.Root())
		if err != nil {
			t.Fatal(err)
		}
		fx2, err := OpenFixed(st, fx.Root(), 1000)
		if err != nil {
			t.Fatal(err)
		}
		if ex2.Len() != 500 || ex.Len() != 500 {
			t.Fatalf("own %v: Len %d, reopened %d, want 500", own, ex.Len(), ex2.Len())
		}
		for i := range uint64(500) {
			for _, ix := range []Index{ex, ex2, fx, fx2} {
				if got, err := ix.Get(i); err != nil || got.Addr != 100+i {
					t.Fatalf("own %v: Get(%d) = %+v, %v", own, i, got, err)
				}
			}
		}
	}
}

func TestRandomOps(t *testing.T) {
	for _, ps := range []int{512, 1024, 8192} {
		for _, kind := range []Kind{KindExtensible, KindFixed} {
			for _, own := range []bool{false, true} {
				randomOps(t, ps, kind, own)
			}
		}
	}
}

// randomOps sets and gets records at random against a model, reopening
// the index now and then, over a Store that owns its pages or not.
func randomOps(t *testing.T, ps int, kind Kind, own bool) {
	ms := newMemStore(ps)
	var st Store = ms
	if own {
		st = ownStore{ms}
	}
	const n = 2_000_000
	var ix Index
	var root uint64
	reopen := func() {
		var err error
		if kind == KindFixed {
			ix, err = OpenFixed(st, root, n)
		} else {
			ix, err = OpenExtensible(st, root)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	var err error
	if kind == KindFixed {
		root, err = CreateFixed(st, n)
	} else {
		root, err = CreateExtensible(st)
	}
	if err != nil {
		t.Fatal(err)
	}
	reopen()
	rnd := rand.New(rand.NewPCG(uint64(ps), uint64(kind)))
	model := map[uint64]Record{}
	var hot uint64
	for step := range 4000 {
		var i uint64
		switch rnd.IntN(4) {
		case 0:
			i = rnd.Uint64N(n)
		case 1:
			hot = rnd.Uint64N(n)
			i = hot
		default:
			i = min(hot+rnd.Uint64N(200), n-1)
		}
		r := Record{Addr: rnd.Uint64(), Size: rnd.Uint64N(1 << 30)}
		if rnd.IntN(10) == 0 {
			r = Record{}
		}
		if err := ix.Set(i, r); err != nil {
			t.Fatalf("Set(%d): %v", i, err)
		}
		model[i] = r
		j := rnd.Uint64N(n)
		got, err := ix.Get(j)
		if err != nil || got != model[j] {
			t.Fatalf("Get(%d) = %+v, %v; want %+v", j, got, err, model[j])
		}
		if step%500 == 0 {
			reopen()
		}
	}
	reopen()
	want := uint64(n)
	if kind == KindExtensible {
		want = modelLen(model)
	}
	if ix.Len() != want {
		t.Fatalf("Len %d, want %d", ix.Len(), want)
	}
	verify(t, ix, model)
	pages, err := Check(st, root, kind, n)
	if err != nil {
		t.Fatal(err)
	}
	checkTiles(t, pages, ms.next)
	if len(ms.released) != 0 {
		t.Fatalf("the index released %v; it never frees blocks", ms.released)
	}
}
