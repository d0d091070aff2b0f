package pagebuf

import (
	"errors"
	"fmt"
	"slices"
)

// ErrInvariant is wrapped by every failure CheckInvariants reports.
var ErrInvariant = errors.New("pagebuf: invariant broken")

// CheckInvariants walks every structure and reports the first inconsistency:
// list lengths and page counts that do not add up, an entry on a list it
// should not be on (or off one it should be on), a hash table that does not
// find an entry, a misordered delayed write list. It costs O(entries) and is
// meant for tests and debugging.
func (b *Buffer) CheckInvariants() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvariant, fmt.Sprintf(format, args...))
	}
	if err := b.checkList(&b.all, "index"); err != nil {
		return err
	}
	if err := b.checkList(&b.lru, "LRU"); err != nil {
		return err
	}
	if err := b.checkList(&b.dwl, "DWL"); err != nil {
		return err
	}
	if err := b.checkList(&b.tick, "tick"); err != nil {
		return err
	}
	if b.tab.n != b.all.len {
		return bad("table holds %d entries, index list %d", b.tab.n, b.all.len)
	}
	chained := 0
	for i, e := range b.tab.buckets {
		for ; e != nil; e = e.htNext {
			chained++
			if b.tab.bucket(e.page) != i {
				return bad("page %d in bucket %d, hashes to %d", e.page, i, b.tab.bucket(e.page))
			}
		}
	}
	if chained != b.tab.n {
		return bad("%d entries chained, table counts %d", chained, b.tab.n)
	}
	var lru, dwl, tick, dirty, multi, covered int
	for e := b.all.head; e != nil; e = e.idx.next {
		if !b.inTable(e) {
			return bad("page %d on the index list but not in the table", e.page)
		}
		if len(e.data) != e.npages*b.cfg.PageSize {
			return bad("page %d: %d bytes for %d pages", e.page, len(e.data), e.npages)
		}
		switch e.on {
		case onLRU:
			lru++
		case onDWL:
			dwl++
		}
		if e.onTick {
			tick++
		}
		if e.dirty {
			dirty++
		}
		if e.npages > 1 {
			multi++
			covered += e.npages - 1
			for i := 1; i < e.npages; i++ {
				if b.cover[e.page+uint64(i)] != e.page {
					return bad("page %d inside entry %d is not mapped to it", e.page+uint64(i), e.page)
				}
				if b.peek(e.page+uint64(i)) != nil {
					return bad("entry %d overlaps entry %d", e.page+uint64(i), e.page)
				}
			}
		}
		if err := b.checkPlace(e); err != nil {
			return err
		}
	}
	switch {
	case lru != b.lru.len:
		return bad("%d entries say LRU, LRU holds %d", lru, b.lru.len)
	case dwl != b.dwl.len:
		return bad("%d entries say DWL, DWL holds %d", dwl, b.dwl.len)
	case tick != b.tick.len:
		return bad("%d entries say tick list, it holds %d", tick, b.tick.len)
	case dirty != b.dirty:
		return bad("%d dirty entries, counted %d", dirty, b.dirty)
	case multi != b.multi:
		return bad("%d multi-page entries, counted %d", multi, b.multi)
	case covered != len(b.cover):
		return bad("multi-page entries cover %d pages, map holds %d", covered, len(b.cover))
	}
	if err := b.checkBuckets(); err != nil {
		return err
	}
	var prev uint64
	for e := b.dwl.head; e != nil; e = e.rep.next {
		if e.writeAt < prev {
			return bad("DWL out of order at page %d: %d after %d", e.page, e.writeAt, prev)
		}
		prev = e.writeAt
	}
	for p := range b.written {
		if e := b.peek(p); e != nil && e.dirty {
			return bad("page %d reported written but dirty", p)
		}
	}
	return nil
}

// checkPlace checks that e is on exactly the lists its state calls for.
func (b *Buffer) checkPlace(e *entry) error {
	bad := func(why string) error {
		return fmt.Errorf("%w: page %d (%d pages, dirty %v, tick %v, on %v, writeAt %d, open tick %d): %s",
			ErrInvariant, e.page, e.npages, e.dirty, e.onTick, e.on, e.writeAt, b.cur, why)
	}
	if e.onTick && !e.dirty {
		return bad("clean on the tick list")
	}
	if e.zeros < 0 || e.zeros > len(e.data) || slices.ContainsFunc(e.data[len(e.data)-e.zeros:], func(c byte) bool { return c != 0 }) {
		return bad(fmt.Sprintf("the last %d of %d bytes were vouched zeros, and are not", e.zeros, len(e.data)))
	}
	switch {
	case b.cfg.Mode == SWMRReader:
		if e.dirty || e.on != onLRU {
			return bad("a reader holds only clean LRU entries")
		}
	case b.keepsDirtyOnDWL():
		if e.dirty != (e.on == onDWL) {
			return bad("dirty entries and only they belong on the DWL")
		}
		if !e.dirty && e.on != onLRU {
			return bad("clean entry off the LRU")
		}
		if !e.dirty && e.npages > 1 && b.dropsCleanMulti() {
			return bad("a writer keeps a clean multi-page entry")
		}
	default:
		if e.on != onLRU || e.onTick {
			return bad("plain entries belong on the LRU only")
		}
	}
	if b.cfg.Mode == SWMRWriter {
		if e.dirty && !e.onTick && b.indexed[e.page] == nil {
			return bad("dirty entry neither in this tick nor in the index")
		}
		if e.onTick && (e.writeAt <= b.cur || e.writeAt > b.cur+b.cfg.MaxLag) {
			return bad("changed this tick, write allowed outside (open tick, open tick + max lag]")
		}
		if e.dirty && e.writeAt > b.cur+b.cfg.MaxLag {
			return bad("delay beyond max lag")
		}
	}
	return nil
}

func (b *Buffer) checkList(l *list, name string) error {
	n, pages := 0, 0
	var prev *entry
	for e := l.head; e != nil; e = l.link(e).next {
		if l.link(e).prev != prev {
			return fmt.Errorf("%w: %s list: back link broken at page %d", ErrInvariant, name, e.page)
		}
		n++
		pages += e.npages
		prev = e
		if n > b.tab.n+1 {
			return fmt.Errorf("%w: %s list: cycle", ErrInvariant, name)
		}
	}
	if prev != l.tail {
		return fmt.Errorf("%w: %s list: tail is not the last entry", ErrInvariant, name)
	}
	if n != l.len || pages != l.pages {
		return fmt.Errorf("%w: %s list: %d entries / %d pages, counted %d / %d", ErrInvariant, name, n, pages, l.len, l.pages)
	}
	return nil
}

// peek finds an entry without touching the search statistics.
func (b *Buffer) peek(page uint64) *entry {
	for e := b.tab.buckets[b.tab.bucket(page)]; e != nil; e = e.htNext {
		if e.page == page {
			return e
		}
	}
	return nil
}

func (b *Buffer) inTable(e *entry) bool { return b.peek(e.page) == e }
