package pagebuf

import "fmt"

// The delayed write list is ordered by writeAt, the first tick at which an
// entry may reach the data file. Entries of one tick form a bucket, and
// writeAt takes at most about max_lag distinct values at a time, so the
// first and last entry of every bucket are kept: an insertion goes after
// its bucket's last entry, or skips whole buckets to find its place,
// instead of walking past every entry of the later ticks (which made a
// tick of n changes cost O(n^2)).
type dwlBuckets map[uint64]*[2]*entry // writeAt -> {first, last}

// dwlInsert links e into the delayed write list by writeAt.
func (b *Buffer) dwlInsert(e *entry) {
	w := e.writeAt
	var at *entry
	if bk := b.dwlB[w]; bk != nil {
		at = bk[1]
	} else {
		// After the last entry of the latest earlier bucket.
		at = b.dwl.tail
		for at != nil && at.writeAt > w {
			at = b.dwlB[at.writeAt][0].rep.prev
			b.st.DWLInsertDepth++
		}
	}
	b.dwl.insertAfter(e, at)
	e.on = onDWL
	if bk := b.dwlB[w]; bk != nil {
		bk[1] = e
	} else {
		b.dwlB[w] = &[2]*entry{e, e}
	}
}

// dwlRemove unlinks e from the delayed write list.
func (b *Buffer) dwlRemove(e *entry) {
	bk := b.dwlB[e.writeAt]
	prev, next := e.rep.prev, e.rep.next
	switch {
	case bk[0] == e && bk[1] == e:
		delete(b.dwlB, e.writeAt)
	case bk[0] == e:
		bk[0] = next
	case bk[1] == e:
		bk[1] = prev
	}
	b.dwl.remove(e)
}

// checkBuckets verifies the bucket index against the list.
func (b *Buffer) checkBuckets() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvariant, fmt.Sprintf(format, args...))
	}
	seen := 0
	for e := b.dwl.head; e != nil; e = e.rep.next {
		bk := b.dwlB[e.writeAt]
		if bk == nil {
			return bad("DWL entry of page %d (tick %d) has no bucket", e.page, e.writeAt)
		}
		first := e.rep.prev == nil || e.rep.prev.writeAt != e.writeAt
		last := e.rep.next == nil || e.rep.next.writeAt != e.writeAt
		if first != (bk[0] == e) || last != (bk[1] == e) {
			return bad("DWL bucket of tick %d does not start or end at page %d", e.writeAt, e.page)
		}
		if first {
			seen++
		}
	}
	if seen != len(b.dwlB) {
		return bad("%d DWL buckets for %d ticks in the list", len(b.dwlB), seen)
	}
	return nil
}
