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
type index struct {
	header  mdfile.Header
	entries map[uint64]mdfile.Entry
	pages   []uint64 // the pages the last delta named, reused by the next
}

func newIndex() *index { return &index{entries: map[uint64]mdfile.Entry{}} }

func (x *index) tick() uint64 { return x.header.Tick }

func (x *index) find(page uint64) (mdfile.Entry, bool) {
	e, ok := x.entries[page]
	return e, ok
}

// reset replaces the whole index.
func (x *index) reset(h mdfile.Header, entries []mdfile.Entry) {
	x.header = h
	if len(x.entries) == 0 {
		x.entries = make(map[uint64]mdfile.Entry, len(entries)) // sized once, not grown
	} else {
		clear(x.entries)
	}
	for _, e := range entries {
		x.entries[e.Page] = e
	}
}

// apply moves the index forward by a delta, in place (one map operation
// per entry of the delta, whatever the index's size), and returns the pages
// it names - added, changed, removed - sorted: the pages a reader must
// evict. The lists of a delta are each sorted by page (mdfile.Diff makes
// them so, and the tick message keeps their order), so the pages come from
// one merge, not a sort; the slice is reused by the next apply. A delta
// whose lists are out of order is an error and leaves the index as it was.
func (x *index) apply(h mdfile.Header, d mdfile.Delta) ([]uint64, error) {
	if !slices.IsSortedFunc(d.Added, cmpEntry) || !slices.IsSortedFunc(d.Changed, cmpEntry) || !slices.IsSorted(d.Removed) {
		return nil, fmt.Errorf("index delta for tick %d is not sorted by page", h.Tick)
	}
	x.header = h
	pages := x.pages[:0]
	add, chg, rm := d.Added, d.Changed, d.Removed
	for len(add) > 0 || len(chg) > 0 || len(rm) > 0 {
		page := uint64(math.MaxUint64)
		if len(add) > 0 {
			page = add[0].Page
		}
		if len(chg) > 0 {
			page = min(page, chg[0].Page)
		}
		if len(rm) > 0 {
			page = min(page, rm[0])
		}
		// In the order the map took them before: added, changed, removed.
		if len(add) > 0 && add[0].Page == page {
			x.entries[page], add = add[0], add[1:]
		}
		if len(chg) > 0 && chg[0].Page == page {
			x.entries[page], chg = chg[0], chg[1:]
		}
		if len(rm) > 0 && rm[0] == page {
			delete(x.entries, page)
			rm = rm[1:]
		}
		pages = append(pages, page)
	}
	x.pages = pages
	return pages, nil
}

func cmpEntry(a, b mdfile.Entry) int { return cmp.Compare(a.Page, b.Page) }

// sorted returns the entries ordered by page.
func (x *index) sorted() []mdfile.Entry {
	out := make([]mdfile.Entry, 0, len(x.entries))
	for _, e := range x.entries {
		out = append(out, e)
	}
	slices.SortFunc(out, cmpEntry)
	return out
}

// replace swaps in a whole new index and returns the pages whose entry is
// new, changed or gone: the pages a reader must evict.
func (x *index) replace(h mdfile.Header, entries []mdfile.Entry) []uint64 {
	var changed []uint64
	seen := make(map[uint64]bool, len(entries))
	for _, e := range entries {
		seen[e.Page] = true
		if old, ok := x.entries[e.Page]; !ok || old != e {
			changed = append(changed, e.Page)
		}
	}
	for p := range x.entries {
		if !seen[p] {
			changed = append(changed, p)
		}
	}
	slices.Sort(changed)
	x.reset(h, entries)
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
	for _, e := range x.sorted() {
		put(e.Page)
		put(e.Offset)
		put(e.Length)
		put(e.Stored)
		put(e.Tail)
		put(e.Checksum)
	}
	return d.Sum64()
}
