package mdfile

import "sort"

// Snapshot is one consistent (tick, index) pair read from a metadata file.
// It is immutable and safe for concurrent use; successive snapshots of a
// reader share the branch and index pages that did not change.
type Snapshot struct {
	Header   Header
	branches []*rbranch
	count    int
}

// rbranch is one branch page as a reader holds it.
type rbranch struct {
	ref     Ref
	leaves  []*rleaf
	entries uint64
}

// rleaf is one index page as a reader holds it.
type rleaf struct {
	ref     Ref
	entries []Entry
}

// Tick is the tick the snapshot publishes.
func (s *Snapshot) Tick() uint64 { return s.Header.Tick }

// Len is the number of index entries.
func (s *Snapshot) Len() int { return s.count }

// Find looks up the entry whose image starts at data-file page page.
func (s *Snapshot) Find(page uint64) (Entry, bool) {
	br := s.branch(page)
	if br == nil {
		return Entry{}, false
	}
	return findEntry(len(br.leaves), func(i int) []Entry { return br.leaves[i].entries }, page)
}

// branch returns the branch whose range holds page, or nil.
func (s *Snapshot) branch(page uint64) *rbranch {
	if s == nil {
		return nil
	}
	i := sort.Search(len(s.branches), func(i int) bool { return s.branches[i].ref.First > page })
	if i == 0 {
		return nil
	}
	return s.branches[i-1]
}

// leaf returns the snapshot's index page with reference ref, or nil.
func (s *Snapshot) leaf(ref Ref) *rleaf {
	br := s.branch(ref.First)
	if br == nil {
		return nil
	}
	i := sort.Search(len(br.leaves), func(i int) bool { return br.leaves[i].ref.First >= ref.First })
	if i < len(br.leaves) && br.leaves[i].ref == ref {
		return br.leaves[i]
	}
	return nil
}

// Entries returns all entries sorted by data-file page (a copy).
func (s *Snapshot) Entries() []Entry {
	out := make([]Entry, 0, s.count)
	for _, br := range s.branches {
		for _, l := range br.leaves {
			out = append(out, l.entries...)
		}
	}
	return out
}

// findEntry binary-searches n sorted, non-empty runs of entries.
func findEntry(n int, run func(int) []Entry, page uint64) (Entry, bool) {
	// The first run whose first page is after page; the answer is in the one before.
	i := sort.Search(n, func(i int) bool { return run(i)[0].Page > page })
	if i == 0 {
		return Entry{}, false
	}
	es := run(i - 1)
	j := sort.Search(len(es), func(j int) bool { return es[j].Page >= page })
	if j < len(es) && es[j].Page == page {
		return es[j], true
	}
	return Entry{}, false
}

// Delta is what changed between two snapshots, by data-file page.
type Delta struct {
	Added   []Entry  // in the new snapshot only
	Changed []Entry  // in both, with a new image (the new entry)
	Removed []uint64 // in the old snapshot only
}

// Diff returns the changes from old (nil: nothing) to cur. Branch and
// index pages the two snapshots share are skipped without looking at
// their entries.
func Diff(old, cur *Snapshot) Delta {
	var ob, cb []*rbranch
	if old != nil {
		ob = old.branches
	}
	if cur != nil {
		cb = cur.branches
	}
	// A shared branch holds the same key range, alone, in both snapshots:
	// the other branches' leaves cover everything else.
	shared := map[*rbranch]bool{}
	for _, b := range cb {
		shared[b] = true
	}
	both := map[*rbranch]bool{}
	for _, b := range ob {
		if shared[b] {
			both[b] = true
		}
	}
	unshared := func(bs []*rbranch) []*rleaf {
		var out []*rleaf
		for _, b := range bs {
			if !both[b] {
				out = append(out, b.leaves...)
			}
		}
		return out
	}
	a, b := unshared(ob), unshared(cb)
	var d Delta
	i, j, x, y := 0, 0, 0, 0 // leaf and entry cursors in a and b
	for i < len(a) || j < len(b) {
		if x == 0 && y == 0 && i < len(a) && j < len(b) && a[i] == b[j] {
			i, j = i+1, j+1
			continue
		}
		switch {
		case j == len(b) || (i < len(a) && a[i].entries[x].Page < b[j].entries[y].Page):
			d.Removed = append(d.Removed, a[i].entries[x].Page)
			x++
		case i == len(a) || b[j].entries[y].Page < a[i].entries[x].Page:
			d.Added = append(d.Added, b[j].entries[y])
			y++
		default:
			if a[i].entries[x] != b[j].entries[y] {
				d.Changed = append(d.Changed, b[j].entries[y])
			}
			x, y = x+1, y+1
		}
		if i < len(a) && x == len(a[i].entries) {
			i, x = i+1, 0
		}
		if j < len(b) && y == len(b[j].entries) {
			j, y = j+1, 0
		}
	}
	return d
}
