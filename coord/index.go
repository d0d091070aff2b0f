package coord

import (
	"cmp"
	"encoding/binary"
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
	clear(x.entries)
	for _, e := range entries {
		x.entries[e.Page] = e
	}
}

// apply moves the index forward by a delta.
func (x *index) apply(h mdfile.Header, d mdfile.Delta) {
	x.header = h
	for _, e := range d.Added {
		x.entries[e.Page] = e
	}
	for _, e := range d.Changed {
		x.entries[e.Page] = e
	}
	for _, p := range d.Removed {
		delete(x.entries, p)
	}
}

// sorted returns the entries ordered by page.
func (x *index) sorted() []mdfile.Entry {
	out := make([]mdfile.Entry, 0, len(x.entries))
	for _, e := range x.entries {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b mdfile.Entry) int { return cmp.Compare(a.Page, b.Page) })
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
		put(e.MDPage)
		put(e.Length)
		put(e.Checksum)
	}
	return d.Sum64()
}
