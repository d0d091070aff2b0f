package coord

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"pwstore/mdfile"
)

// TestIndexApplyMatchesMap: random deltas (sorted, as mdfile.Diff gives
// them, with pages added, changed, removed, and the odd page named in two
// lists) give the same entries as applying the lists one by one to a map,
// and apply names exactly the pages of the delta, sorted.
// Small leaves make the walk split leaves, empty them and cross them
// on almost every tick.
func TestIndexApplyMatchesMap(t *testing.T) {
	for _, size := range []int{2, 3, 8, leafMax} {
		t.Run(fmt.Sprintf("leaf=%d", size), func(t *testing.T) { testIndexApply(t, size) })
	}
}

func testIndexApply(t *testing.T, leaf int) {
	rng := rand.New(rand.NewPCG(1, uint64(leaf)))
	x := newIndex()
	x.leafMax = leaf
	ref := map[uint64]mdfile.Entry{}
	for tick := uint64(1); tick <= 300; tick++ {
		var d mdfile.Delta
		named := map[uint64]bool{}
		for range rng.IntN(60) {
			p := rng.Uint64N(400)
			e := mdfile.Entry{Page: p, Offset: rng.Uint64(), Length: 4096, Stored: 8 + rng.Uint64N(4089), Tail: 8, Checksum: rng.Uint64()}
			switch _, had := ref[p]; {
			case rng.IntN(20) == 0: // an odd delta: the page in a second list too
				d.Added = append(d.Added, e)
				d.Removed = append(d.Removed, p)
			case !had:
				d.Added = append(d.Added, e)
			case rng.IntN(2) == 0:
				d.Changed = append(d.Changed, e)
			default:
				d.Removed = append(d.Removed, p)
			}
			named[p] = true
		}
		d.Added = sortedUnique(d.Added)
		d.Changed = sortedUnique(d.Changed)
		slices.Sort(d.Removed)
		d.Removed = slices.Compact(d.Removed)
		for _, e := range d.Added {
			ref[e.Page] = e
		}
		for _, e := range d.Changed {
			ref[e.Page] = e
		}
		for _, p := range d.Removed {
			delete(ref, p)
		}
		pages, err := x.apply(mdfile.Header{Tick: tick}, d)
		if err != nil {
			t.Fatal(err)
		}
		if want := slices.Sorted(maps.Keys(named)); !slices.Equal(pages, want) {
			t.Fatalf("tick %d: pages %v, want %v", tick, pages, want)
		}
		checkLeaves(t, x)
		want := slices.SortedFunc(maps.Values(ref), cmpEntry)
		if !slices.Equal(x.sorted(), want) {
			t.Fatalf("tick %d: index has %d entries, the map %d, or they differ", tick, x.len(), len(want))
		}
		for p := range uint64(400) {
			got, ok := x.find(p)
			if e, in := ref[p]; ok != in || got != e {
				t.Fatalf("tick %d: find(%d) = %+v %v, want %+v %v", tick, p, got, ok, e, in)
			}
		}
		if rng.IntN(10) == 0 { // a copy from the full index agrees
			y := newIndex()
			y.reset(x.header, x.sorted())
			if y.digest() != x.digest() {
				t.Fatalf("tick %d: digest of a copy differs", tick)
			}
		}
	}
}

// checkLeaves checks the index's shape: leaves neither empty nor over
// full, firsts their first pages, pages ascending across leaves, n their
// total.
func checkLeaves(t *testing.T, x *index) {
	t.Helper()
	if len(x.firsts) != len(x.leaves) {
		t.Fatalf("%d leaves, %d first pages", len(x.leaves), len(x.firsts))
	}
	n, last := 0, int64(-1)
	for i, l := range x.leaves {
		if len(l) == 0 {
			t.Fatalf("leaf %d is empty", i)
		}
		if len(l) > x.leafMax || x.firsts[i] != l[0].Page {
			t.Fatalf("leaf %d: %d entries (max %d), first page %d, recorded %d", i, len(l), x.leafMax, l[0].Page, x.firsts[i])
		}
		for _, e := range l {
			if int64(e.Page) <= last {
				t.Fatalf("leaf %d: page %d after page %d", i, e.Page, last)
			}
			last = int64(e.Page)
		}
		n += len(l)
	}
	if n != x.len() {
		t.Fatalf("%d entries in the leaves, %d counted", n, x.len())
	}
}

func sortedUnique(es []mdfile.Entry) []mdfile.Entry {
	slices.SortStableFunc(es, cmpEntry)
	return slices.CompactFunc(es, func(a, b mdfile.Entry) bool { return a.Page == b.Page })
}

// TestIndexReplace: replace returns the pages whose entry is new, changed
// or gone, sorted.
func TestIndexReplace(t *testing.T) {
	x := newIndex()
	x.reset(mdfile.Header{Tick: 1}, []mdfile.Entry{{Page: 5, Offset: 1}, {Page: 1, Offset: 1}, {Page: 3, Offset: 1}})
	got := x.replace(mdfile.Header{Tick: 2}, []mdfile.Entry{{Page: 1, Offset: 1}, {Page: 3, Offset: 2}, {Page: 4, Offset: 1}})
	if !slices.Equal(got, []uint64{3, 4, 5}) {
		t.Fatalf("replace named %v, want [3 4 5]", got)
	}
	if _, ok := x.find(5); ok || x.tick() != 2 || x.len() != 3 {
		t.Fatalf("index after replace: tick %d, %+v", x.tick(), x.sorted())
	}
	// Entries in any order, a page twice: the later one counts, as it
	// did in a map.
	x.reset(mdfile.Header{Tick: 3}, []mdfile.Entry{{Page: 7, Offset: 1}, {Page: 2, Offset: 1}, {Page: 7, Offset: 2}})
	if e, ok := x.find(7); !ok || e.Offset != 2 || x.len() != 2 {
		t.Fatalf("index after reset with a page twice: %+v", x.sorted())
	}
}

// TestIndexApplyUnsorted: a delta out of page order is refused and the
// index stays as it was.
func TestIndexApplyUnsorted(t *testing.T) {
	x := newIndex()
	x.reset(mdfile.Header{Tick: 1}, []mdfile.Entry{{Page: 1}, {Page: 2}})
	before := x.digest()
	_, err := x.apply(mdfile.Header{Tick: 2}, mdfile.Delta{Added: []mdfile.Entry{{Page: 9}, {Page: 7}}})
	if err == nil {
		t.Fatal("an unsorted delta was applied")
	}
	if x.digest() != before {
		t.Fatal("a refused delta changed the index")
	}
}

// BenchmarkIndexApply: one rank applying a 1,000-entry delta to an index
// of 4,000 entries (the colltick shape).
func BenchmarkIndexApply(b *testing.B) {
	x := newIndex()
	var all []mdfile.Entry
	for p := range uint64(4000) {
		all = append(all, mdfile.Entry{Page: p, Offset: p})
	}
	x.reset(mdfile.Header{Tick: 1}, all)
	var d mdfile.Delta
	for p := uint64(0); p < 4000; p += 4 {
		d.Changed = append(d.Changed, mdfile.Entry{Page: p, Offset: p + 1})
	}
	for i := 0; b.Loop(); i++ {
		if _, err := x.apply(mdfile.Header{Tick: uint64(i + 2)}, d); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIndexApplyLarge: a 10-entry delta (adds, changes, removes) on
// an index of a million entries: the cost follows the delta, not the index.
func BenchmarkIndexApplyLarge(b *testing.B) {
	x := newIndex()
	all := make([]mdfile.Entry, 0, 1<<20)
	for p := range uint64(1 << 20) {
		all = append(all, mdfile.Entry{Page: 2 * p, Offset: p})
	}
	x.reset(mdfile.Header{Tick: 1}, all)
	for i := 0; b.Loop(); i++ {
		// Even ticks add five pages, odd ones remove them again.
		var d mdfile.Delta
		base := uint64(i/2%1000) * 2000
		for k := range uint64(5) {
			p := base + 400*k
			if i%2 == 0 {
				d.Added = append(d.Added, mdfile.Entry{Page: p + 1})
			} else {
				d.Removed = append(d.Removed, p+1)
			}
			d.Changed = append(d.Changed, mdfile.Entry{Page: p, Offset: uint64(i)})
		}
		if _, err := x.apply(mdfile.Header{Tick: uint64(i + 2)}, d); err != nil {
			b.Fatal(err)
		}
	}
	if x.len() < 1<<20 || x.len() > 1<<20+5 {
		b.Fatalf("index of %d entries, want 2^20 and at most 5 more", x.len())
	}
}
