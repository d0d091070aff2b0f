package pagebuf

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
)

// Change is one entry changed in a tick, for the metadata-file index.
type Change struct {
	Page   uint64
	NPages int
	// Image is the entry's image at the end of the tick. It is shared with
	// the buffer, which never modifies it: the caller must not either.
	Image []byte
	// Zeros is how many bytes at the end of Image are zeros, as the
	// writer of the image vouched (WriteUsed); 0 when not known.
	Zeros int
}

// TickResult is what the end of a tick hands the coordinator.
type TickResult struct {
	Tick uint64
	// Changes are the entries changed in the tick, sorted by page: they
	// go into the metadata-file index published for Tick.
	Changes []Change
	// Remove are the first pages of entries that may leave that index:
	// their current image is in the data file and has not changed for
	// max_lag ticks, or their space was freed. Sorted.
	Remove []uint64
}

// EndTick ends the open tick, which must be tick (SWMRWriter). It returns
// the tick's changes and the pages that may leave the index, empties the
// tick list, and writes back every entry whose delay is over (a writer's
// multi-page entries then leave the buffer). The coordinator must publish
// index tick before it calls the buffer again: the next tick is open from
// then on, and its rule lets entries changed in tick reach the data file.
//
// The tick has ended even when err != nil: err reports a failed write-back
// (that entry stays dirty and is retried later) and res is complete.
func (b *Buffer) EndTick(tick uint64) (res TickResult, err error) {
	if b.cfg.Mode != SWMRWriter {
		return res, fmt.Errorf("%w: EndTick(%d) in %v mode", ErrTick, tick, b.cfg.Mode)
	}
	if tick != b.cur {
		return res, fmt.Errorf("%w: EndTick(%d) while tick %d is open", ErrTick, tick, b.cur)
	}
	res.Tick = tick
	res.Changes = make([]Change, 0, b.tick.len)
	for e := b.tick.head; e != nil; {
		next := e.tick.next
		res.Changes = append(res.Changes, Change{Page: e.page, NPages: e.npages, Image: e.data, Zeros: e.zeros})
		rec := b.indexed[e.page]
		if rec == nil {
			rec = &record{safeFrom: e.writeAt}
			b.indexed[e.page] = rec
		}
		rec.changed, rec.written, rec.freed = tick, false, false
		e.tick = link{}
		e.onTick = false
		e = next
	}
	b.tick = list{via: viaTick}
	slices.SortFunc(res.Changes, func(x, y Change) int { return cmp.Compare(x.Page, y.Page) })

	// Write back what may now go (before index tick is published, so under
	// the rule for the open tick).
	err = b.writeDue()
	// Room is made while index tick is still unpublished, under its rule,
	// and before the removals below look at what reached the data file.
	if rerr := b.makeRoom(nil); err == nil {
		err = rerr
	}

	for _, p := range b.freed {
		if rec := b.indexed[p]; rec != nil && rec.freed {
			delete(b.indexed, p)
			res.Remove = append(res.Remove, p)
		}
	}
	b.freed = b.freed[:0]
	for _, p := range b.due[tick] {
		if rec := b.indexed[p]; rec != nil && rec.written && tick >= rec.changed+b.cfg.MaxLag {
			delete(b.indexed, p)
			res.Remove = append(res.Remove, p)
		}
	}
	delete(b.due, tick)
	slices.Sort(res.Remove)

	b.cur = tick + 1
	b.st.Ticks++
	b.noteMax()
	return res, err
}

// maxWriteBack caps the bytes gathered into one write of adjacent entries.
const maxWriteBack = 1 << 20

// writeDue writes back the dirty entries at the head of the delayed write
// list whose delay is over (none for a follower): in page order, entries
// on adjacent pages in one write, since an end of tick can have thousands
// of them (each small dataset's pages, max_lag ticks after a pass).
func (b *Buffer) writeDue() error {
	var due []*entry
	for e := b.dwl.head; e != nil && b.canWrite(e); e = e.rep.next {
		due = append(due, e)
	}
	slices.SortFunc(due, func(x, y *entry) int { return cmp.Compare(x.page, y.page) })
	var gone []uint64
	var err error
	for i := 0; i < len(due); {
		j, size := i+1, len(due[i].data)
		for j < len(due) && due[j].page == due[j-1].page+uint64(due[j-1].npages) && size+len(due[j].data) <= maxWriteBack {
			size += len(due[j].data)
			j++
		}
		if err = b.writeRun(due[i:j]); err != nil {
			break
		}
		for _, e := range due[i:j] {
			if b.settle(e) {
				gone = append(gone, e.page)
			}
		}
		i = j
	}
	b.notify(gone)
	return err
}

// writeRun writes back entries on adjacent pages in one write and marks
// them clean; the caller settles them.
func (b *Buffer) writeRun(run []*entry) error {
	if len(run) == 1 {
		return b.writeBack(run[0])
	}
	b.wbuf = b.wbuf[:0]
	for _, e := range run {
		b.wbuf = append(b.wbuf, e.data...)
	}
	if err := b.back.WritePages(run[0].page, b.wbuf); err != nil {
		return fmt.Errorf("pagebuf: write back %d entries at page %d: %w", len(run), run[0].page, err)
	}
	for _, e := range run {
		b.wrote(e)
	}
	return nil
}

// Flush writes back every dirty entry it may write now and returns how many
// must still wait: delayed entries and this tick's changes (SWMRWriter; end
// ticks until pending is 0), or a follower's dirty entries (they wait for
// MarkClean). In Plain mode everything is written and pending is 0.
func (b *Buffer) Flush() (pending int, err error) {
	switch {
	case b.cfg.Mode == SWMRReader:
		return 0, nil
	case b.cfg.Follower:
		return b.dwl.len, nil
	case b.cfg.Mode == Plain:
		for e := b.all.head; e != nil; e = e.idx.next {
			if e.dirty {
				if err := b.writeBack(e); err != nil {
					return b.dirty, err
				}
			}
		}
		return 0, nil
	}
	err = b.writeDue()
	if rerr := b.makeRoom(nil); err == nil {
		err = rerr
	}
	b.noteMax()
	return b.dwl.len, err
}

// OverLimit reports whether the entries changed in the open tick hold at
// least Config.TickBytesLimit bytes: time for an early end of tick.
func (b *Buffer) OverLimit() bool {
	return b.cfg.TickBytesLimit > 0 && b.TickBytes() >= b.cfg.TickBytesLimit
}

// TickBytes returns the bytes held by the entries changed in the open tick.
func (b *Buffer) TickBytes() int64 { return int64(b.tick.pages) * int64(b.cfg.PageSize) }

// TakeWritten returns (sorted) the first pages of the entries this leader
// wrote back since the last call and has not changed since, and forgets them.
func (b *Buffer) TakeWritten() []uint64 {
	if b.written == nil {
		return nil
	}
	out := make([]uint64, 0, len(b.written))
	for p := range b.written {
		out = append(out, p)
	}
	clear(b.written)
	slices.Sort(out)
	return out
}

// MarkClean tells a follower that the leader wrote the current images of
// these entries to the data file: they become clean (and may be evicted).
// Pages not held, or clean, are skipped. A page changed in the open tick
// cannot have been written by the leader: that means the ranks' streams
// diverged, and MarkClean reports it (after handling the other pages).
func (b *Buffer) MarkClean(pages []uint64) error {
	if !b.cfg.Follower {
		return fmt.Errorf("%w: MarkClean on a buffer that is not a follower", ErrRole)
	}
	var errs []error
	var gone []uint64
	for _, p := range pages {
		e := b.tab.get(p)
		if e == nil || !e.dirty {
			continue
		}
		if e.onTick {
			errs = append(errs, fmt.Errorf("%w: leader reports page %d written, but it changed in open tick %d", ErrRole, p, b.cur))
			continue
		}
		b.cleaned(e)
		if b.settle(e) {
			gone = append(gone, p)
		}
	}
	b.notify(gone)
	err := b.makeRoom(nil)
	b.noteMax()
	return errors.Join(append(errs, err)...)
}
