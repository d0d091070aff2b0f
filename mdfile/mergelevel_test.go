package mdfile

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// refMergeLevel is mergeLevel as first written: every page of the level
// visited in turn, then a second pass joining neighbours. The search-based
// mergeLevel must build the same pages.
func refMergeLevel[K any, N node[K]](old []N, ops []change, limit int, superseded *[]extent,
	mergeItems func([]K, []change) ([]K, error), build func([]K) N) ([]N, error) {
	if len(old) == 0 {
		old = []N{build(nil)}
	}
	out := make([]N, 0, len(old)+1)
	oi := 0
	for i, n := range old {
		hi := uint64(maxPage)
		if i+1 < len(old) {
			hi = old[i+1].first()
		}
		oj := oi
		for oj < len(ops) && ops[oj].page < hi {
			oj++
		}
		if oj == oi {
			if len(n.items()) > 0 {
				out = append(out, n)
			}
			continue
		}
		items, err := mergeItems(n.items(), ops[oi:oj])
		if err != nil {
			return nil, err
		}
		oi = oj
		if at := n.place(); at.n > 0 {
			*superseded = append(*superseded, at)
		}
		for k := 0; k < len(items); {
			size := evenRun(len(items)-k, limit)
			out = append(out, build(items[k:k+size]))
			k += size
		}
	}
	joined := out[:0]
	for _, n := range out {
		if k := len(joined); k > 0 {
			prev := joined[k-1]
			if small(len(prev.items()), len(n.items()), limit, prev.changed() || n.changed()) {
				for _, x := range []N{prev, n} {
					if at := x.place(); at.n > 0 {
						*superseded = append(*superseded, at)
					}
				}
				both := make([]K, 0, len(prev.items())+len(n.items()))
				joined[k-1] = build(append(append(both, prev.items()...), n.items()...))
				continue
			}
		}
		joined = append(joined, n)
	}
	return joined, nil
}

// TestMergeLevelMatchesReference: on random levels of clean, placed leaves
// and random insertions, replacements and removals - few or many, spread or
// bunched, into empty levels too - mergeLevel builds the same leaves,
// changed or kept, and supersedes the same extents as refMergeLevel.
func TestMergeLevelMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	w := &Writer{ps: 512}
	for round := range 3000 {
		limit := 4 + rng.IntN(40)
		npages := rng.IntN(600)
		pages := make([]uint64, 0, npages)
		for p := uint64(0); len(pages) < npages; p += 1 + uint64(rng.IntN(3)) {
			pages = append(pages, p)
		}
		var old []*wleaf
		for k := 0; k < len(pages); {
			size := 1 + rng.IntN(limit)
			size = min(size, len(pages)-k)
			es := make([]Entry, size)
			for j := range es {
				es[j] = Entry{Page: pages[k+j], Length: 512, Stored: 8, Offset: uint64(round)}
			}
			l := newLeaf(es)
			l.dirty, l.at = false, extent{uint64(1000 + len(old)), 1}
			old = append(old, l)
			k += size
		}
		// ops: a few spread ones, or a bunch in one place
		span := max(uint64(len(pages))*2, 1)
		nops := rng.IntN(12)
		if rng.IntN(4) == 0 {
			nops = rng.IntN(200)
		}
		seen := map[uint64]bool{}
		var ops []change
		for range nops {
			p := uint64(rng.IntN(int(span) + 10))
			if seen[p] {
				continue
			}
			seen[p] = true
			_, present := slices.BinarySearch(pages, p)
			c := change{page: p, data: []byte{1}, ent: Entry{Page: p, Length: 512, Stored: 8}}
			if present && rng.IntN(2) == 0 {
				c = change{page: p} // a removal
			}
			ops = append(ops, c)
		}
		slices.SortFunc(ops, func(a, b change) int { return cmp.Compare(a.page, b.page) })
		var supGot, supWant []extent
		got, err1 := mergeLevel(old, ops, limit, &supGot, func(es []Entry, o []change) ([]Entry, error) { return w.mergeLeaf(es, o, &supGot) }, newLeaf)
		want, err2 := refMergeLevel(old, ops, limit, &supWant, func(es []Entry, o []change) ([]Entry, error) { return w.mergeLeaf(es, o, &supWant) }, newLeaf)
		if (err1 == nil) != (err2 == nil) {
			t.Fatalf("round %d: errors %v and %v", round, err1, err2)
		}
		if err1 != nil {
			continue
		}
		if d := diffLeaves(got, want); d != "" {
			t.Fatalf("round %d (limit %d, %d pages in %d leaves, %d ops): %s", round, limit, len(pages), len(old), len(ops), d)
		}
		byPage := func(a, b extent) int { return cmp.Or(cmp.Compare(a.page, b.page), cmp.Compare(a.n, b.n)) }
		slices.SortFunc(supGot, byPage)
		slices.SortFunc(supWant, byPage)
		if !slices.Equal(supGot, supWant) {
			t.Fatalf("round %d: superseded %v, want %v", round, supGot, supWant)
		}
	}
}

func diffLeaves(got, want []*wleaf) string {
	if len(got) != len(want) {
		return fmt.Sprintf("%d leaves, want %d", len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.dirty != w.dirty || g.at != w.at || g.lo != w.lo || !slices.Equal(g.entries, w.entries) {
			return fmt.Sprintf("leaf %d: dirty %v at %v lo %d %d entries, want dirty %v at %v lo %d %d entries",
				i, g.dirty, g.at, g.lo, len(g.entries), w.dirty, w.at, w.lo, len(w.entries))
		}
	}
	return ""
}
