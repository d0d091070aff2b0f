package pagebuf

import "fmt"

// WriteAll writes back every dirty entry now, whatever its delay, and
// lifts the delays for good (SWMRWriter, not a follower). It is for a
// writer that has ended its last tick and published that it is
// finalising, after which no reader trusts a data-file page it loads
// under an older tick. Entries changed in the open tick are an error:
// their images are in no published index.
func (b *Buffer) WriteAll() error {
	switch {
	case b.cfg.Mode != SWMRWriter || b.cfg.Follower:
		return fmt.Errorf("%w: WriteAll in %v mode (follower %v)", ErrTick, b.cfg.Mode, b.cfg.Follower)
	case b.tick.len > 0:
		return fmt.Errorf("%w: WriteAll with %d entries changed in open tick %d", ErrTick, b.tick.len, b.cur)
	}
	b.final = true
	err := b.writeDue()
	b.noteMax()
	if err == nil && b.dwl.len > 0 {
		err = fmt.Errorf("%w: %d entries still wait after WriteAll", ErrInvariant, b.dwl.len)
	}
	return err
}

// InvalidateAll drops every clean entry (Invalidate of all of them) and
// returns their first pages: for a reader whose next snapshot cannot say
// which pages changed since its last (a writer's closed mark, whose index
// is empty).
func (b *Buffer) InvalidateAll() []uint64 {
	return b.dropClean(func(*entry) bool { return true })
}
