package coord

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/cespare/xxhash/v2"

	"pwstore/mdfile"
)

// index is the metadata-file index a reader has adopted: the snapshot's
// header and its entries by data-file page. Reader rank 0 builds it from
// the snapshots it loads; the other reader ranks from what rank 0 sends, so
// the two paths must give equal indexes.
//
// The entries are kept sorted by page, in leaves of at most leafMax
// entries: a delta, itself sorted, is applied in one forward walk that
// touches the leaves in memory order (a map touched every changed entry at
// a random place, two or three cache misses each, and cost a reader rank
// 130 us per thousand entries between ticks that had evicted it from the
// cache); an insert or removal moves at most one leaf's entries, whatever
// the index's size.
type index struct {
	header  mdfile.Header
	leaves  [][]mdfile.Entry // in page order, none empty, each sorted by page
	firsts  []uint64         // firsts[i] is leaves[i][0].Page
	n       int              // entries
	leafMax int              // entries a leaf holds before it splits, >= 2
	pages   []uint64         // the pages the last delta named, reused by the next
}

// leafMax: 128 entries of 48 bytes, 6 KiB a leaf: an insert or removal
// moves 3 KiB on average, a dense delta's walk still crosses few leaves.
const leafMax = 128

func newIndex() *index { return &index{leafMax: leafMax} }

func (x *index) tick() uint64 { return x.header.Tick }

// len is the number of entries.
func (x *index) len() int { return x.n }

// leafOf returns the leaf whose range holds page (the last leaf whose
// first page is <= page), searching from leaf from on, or -1 if page is
// before every leaf.
func (x *index) leafOf(page uint64, from int) int {
	lo, hi := from, len(x.firsts) // the first leaf starting after page is in [lo, hi]
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if x.firsts[m] <= page {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo - 1
}

func (x *index) find(page uint64) (mdfile.Entry, bool) {
	li := x.leafOf(page, 0)
	if li < 0 {
		return mdfile.Entry{}, false
	}
	l := x.leaves[li]
	if i := gallop(l, 0, page); i < len(l) && l[i].Page == page {
		return l[i], true
	}
	return mdfile.Entry{}, false
}

// reset replaces the whole index. entries may come in any order; of two
// entries for one page the later wins.
func (x *index) reset(h mdfile.Header, entries []mdfile.Entry) {
	x.fill(h, byPageOnce(entries))
}

// byPageOnce returns entries sorted by page with one entry a page, the
// later of two for one page: entries itself if it already is.
func byPageOnce(entries []mdfile.Entry) []mdfile.Entry {
	if sortedStrict(entries) {
		return entries
	}
	entries = slices.Clone(entries)
	slices.SortStableFunc(entries, cmpEntry)
	return lastOfEach(entries)
}

// fill replaces the whole index with entries sorted by page, one a page.
func (x *index) fill(h mdfile.Header, entries []mdfile.Entry) {
	x.header = h
	clear(x.leaves)
	x.leaves, x.firsts, x.n = x.leaves[:0], x.firsts[:0], len(entries)
	// Leaves start three quarters full, so that the next deltas' inserts
	// rarely split one.
	per := max(x.leafMax*3/4, 1)
	for len(entries) > 0 {
		k := min(per, len(entries))
		l := make([]mdfile.Entry, k, x.leafMax)
		copy(l, entries[:k])
		x.leaves = append(x.leaves, l)
		x.firsts = append(x.firsts, l[0].Page)
		entries = entries[k:]
	}
}

// sortedStrict reports whether es is sorted by page without repeats.
func sortedStrict(es []mdfile.Entry) bool {
	for i := 1; i < len(es); i++ {
		if es[i-1].Page >= es[i].Page {
			return false
		}
	}
	return true
}

// lastOfEach keeps, of each run of entries with one page (es sorted by
// page, stably), the last.
func lastOfEach(es []mdfile.Entry) []mdfile.Entry {
	out := es[:0]
	for i, e := range es {
		if i+1 < len(es) && es[i+1].Page == e.Page {
			continue
		}
		out = append(out, e)
	}
	return out
}

// cursor is a position in the walk of one delta: leaf li, and within it
// the place the last page was found or went.
type cursor struct{ li, pos int }

// seek moves c to page (not before c) and reports whether the index holds
// it. c.li is -1 when page is before every leaf.
func (x *index) seek(c *cursor, page uint64) bool {
	if len(x.leaves) == 0 || page < x.firsts[0] {
		c.li, c.pos = -1, 0
		return false
	}
	li := max(c.li, 0)
	if li+1 < len(x.firsts) && x.firsts[li+1] <= page {
		li = x.leafOf(page, li+1)
	}
	if li != c.li {
		c.li, c.pos = li, 0
	}
	l := x.leaves[li]
	c.pos = gallop(l, c.pos, page)
	return c.pos < len(l) && l[c.pos].Page == page
}

// gallop returns the first place at or after from in l (sorted by page)
// whose page is >= page. The next page of a delta is usually a few entries
// on: it looks at the first probe entries one by one (a loop the branch
// predictor follows, where a search mispredicts at every halving), then
// takes steps that double, then a binary search in the last step.
func gallop(l []mdfile.Entry, from int, page uint64) int {
	end := min(from+probe, len(l))
	for i := from; i < end; i++ {
		if l[i].Page >= page {
			return i
		}
	}
	lo, hi := end, end
	for step := 1; hi < len(l) && l[hi].Page < page; step *= 2 {
		lo, hi = hi+1, hi+step
	}
	hi = min(hi, len(l))
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if l[m].Page < page {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// probe is how many entries gallop looks at one by one: 8 entries, 384
// bytes, the next few cache lines the walk reads anyway.
const probe = 8

// set puts *e in the index, at c as left by seek(c, e.Page). It takes a
// pointer: an entry passed by value went through the stack in 8-byte
// stores read back as 16-byte loads, which the CPU cannot forward, and
// that stall was a third of a delta's cost.
func (x *index) set(c *cursor, e *mdfile.Entry, found bool) {
	if found {
		x.leaves[c.li][c.pos] = *e
		return
	}
	x.n++
	if c.li < 0 { // before every leaf: into the first, or a new one
		if len(x.leaves) == 0 {
			x.leaves = append(x.leaves, make([]mdfile.Entry, 0, x.leafMax))
			x.firsts = append(x.firsts, e.Page)
		}
		c.li, c.pos = 0, 0
	}
	l := x.leaves[c.li]
	if len(l) == x.leafMax { // split: the upper half goes to a new leaf
		half := len(l) / 2
		up := make([]mdfile.Entry, len(l)-half, x.leafMax)
		copy(up, l[half:])
		x.leaves[c.li] = l[:half]
		x.leaves = slices.Insert(x.leaves, c.li+1, up)
		x.firsts = slices.Insert(x.firsts, c.li+1, up[0].Page)
		if c.pos > half { // at half it ends the lower leaf
			c.li, c.pos = c.li+1, c.pos-half
		}
		l = x.leaves[c.li]
	}
	x.leaves[c.li] = slices.Insert(l, c.pos, *e)
	x.firsts[c.li] = x.leaves[c.li][0].Page
}

// remove drops the entry at c, as left by a seek that found it.
func (x *index) remove(c *cursor) {
	x.n--
	l := slices.Delete(x.leaves[c.li], c.pos, c.pos+1)
	if len(l) > 0 {
		x.leaves[c.li] = l
		x.firsts[c.li] = l[0].Page
		return
	}
	x.leaves = slices.Delete(x.leaves, c.li, c.li+1)
	x.firsts = slices.Delete(x.firsts, c.li, c.li+1)
	// The next page is after this one: the walk goes on in the leaf
	// before (the search moves on from there).
	c.li, c.pos = c.li-1, 0
}

// apply moves the index forward by a delta, in place, and returns the
// pages it names - added, changed, removed - sorted: the pages a reader
// must evict. The lists of a delta are each sorted by page (mdfile.Diff
// makes them so, and the tick message keeps their order), so the pages
// come from one merge, not a sort, and the index is walked forward once;
// the slice is reused by the next apply. A delta whose lists are out of
// order is an error and leaves the index as it was.
func (x *index) apply(h mdfile.Header, d mdfile.Delta) ([]uint64, error) {
	if !byPage(d.Added) || !byPage(d.Changed) || !slices.IsSorted(d.Removed) {
		return nil, fmt.Errorf("index delta for tick %d is not sorted by page", h.Tick)
	}
	x.header = h
	pages := x.pages[:0]
	add, chg, rm := d.Added, d.Changed, d.Removed
	c := cursor{li: -1}
	for {
		next := uint64(math.MaxUint64) // the next page added or removed
		if len(add) > 0 {
			next = add[0].Page
		}
		if len(rm) > 0 {
			next = min(next, rm[0])
		}
		// Most of a delta is runs of changes before the next page added
		// or removed: one list to look at.
		for len(chg) > 0 && chg[0].Page < next {
			e := &chg[0]
			if x.seek(&c, e.Page) {
				x.leaves[c.li][c.pos] = *e
			} else {
				x.set(&c, e, false)
			}
			pages = append(pages, e.Page)
			chg = chg[1:]
		}
		if len(add) == 0 && len(chg) == 0 && len(rm) == 0 {
			break
		}
		page := next
		if len(chg) > 0 {
			page = min(page, chg[0].Page)
		}
		// In the order the lists are applied one by one: added, changed,
		// removed.
		found := x.seek(&c, page)
		if len(add) > 0 && add[0].Page == page {
			x.set(&c, &add[0], found)
			found, add = true, add[1:]
		}
		if len(chg) > 0 && chg[0].Page == page {
			x.set(&c, &chg[0], found)
			found, chg = true, chg[1:]
		}
		if len(rm) > 0 && rm[0] == page {
			if found {
				x.remove(&c)
			}
			rm = rm[1:]
		}
		pages = append(pages, page)
	}
	x.pages = pages
	return pages, nil
}

func cmpEntry(a, b mdfile.Entry) int { return cmp.Compare(a.Page, b.Page) }

// byPage reports whether es is sorted by page (repeats allowed), as
// slices.IsSortedFunc(es, cmpEntry) does at a fifth of the cost.
func byPage(es []mdfile.Entry) bool {
	for i := 1; i < len(es); i++ {
		if es[i].Page < es[i-1].Page {
			return false
		}
	}
	return true
}

// sorted returns the entries ordered by page.
func (x *index) sorted() []mdfile.Entry {
	out := make([]mdfile.Entry, 0, x.n)
	for _, l := range x.leaves {
		out = append(out, l...)
	}
	return out
}

// replace swaps in a whole new index and returns the pages whose entry is
// new, changed or gone: the pages a reader must evict.
func (x *index) replace(h mdfile.Header, entries []mdfile.Entry) []uint64 {
	entries = byPageOnce(entries)
	var changed []uint64
	old := x.sorted()
	i, j := 0, 0
	for i < len(old) || j < len(entries) {
		switch {
		case j == len(entries) || (i < len(old) && old[i].Page < entries[j].Page):
			changed = append(changed, old[i].Page)
			i++
		case i == len(old) || entries[j].Page < old[i].Page:
			changed = append(changed, entries[j].Page)
			j++
		default:
			if old[i] != entries[j] {
				changed = append(changed, entries[j].Page)
			}
			i, j = i+1, j+1
		}
	}
	x.fill(h, entries)
	return changed
}

// digest is a checksum of the whole index (tick and sorted entries), so
// ranks and tests can check that two ranks hold the same index.
func (x *index) digest() uint64 {
	d := xxhash.New()
	var b [8]byte
	put := func(v uint64) {
		binary.LittleEndian.PutUint64(b[:], v)
		d.Write(b[:])
	}
	put(x.header.Tick)
	for _, l := range x.leaves {
		for _, e := range l {
			put(e.Page)
			put(e.Offset)
			put(e.Length)
			put(e.Stored)
			put(e.Tail)
			put(e.Checksum)
		}
	}
	return d.Sum64()
}
