package pagebuf

import (
	"bytes"
	"errors"
	"slices"
	"testing"
)

func writer(t *testing.T, lag uint64, capacity int, be Backend) *Buffer {
	return newBuf(t, Config{MaxPages: capacity, Mode: SWMRWriter, MaxLag: lag}, be)
}

func endTick(t *testing.T, b *Buffer, be *memBackend) TickResult {
	t.Helper()
	tick := b.Tick()
	res, err := b.EndTick(tick)
	if err != nil {
		t.Fatalf("end tick %d: %v", tick, err)
	}
	if err := b.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
	if be != nil {
		be.published = tick
	}
	return res
}

func pagesOf(cs []Change) []uint64 {
	var out []uint64
	for _, c := range cs {
		out = append(out, c.Page)
	}
	return out
}

func TestTickListCollectsChanges(t *testing.T) {
	be := newMem(ps)
	b := writer(t, 3, 100, be)
	mustWrite(t, b, 5, img(ps, 5, 1, 1), true)
	mustWrite(t, b, 2, img(ps, 2, 1, 1), true)
	mustWrite(t, b, 9, img(ps, 9, 2, 1), true)
	mustWrite(t, b, 2, img(ps, 2, 1, 2), true)
	if st := b.Stats(); st.TickLen != 3 || st.TickBytes != 4*ps {
		t.Fatalf("tick list %d entries %d bytes", st.TickLen, st.TickBytes)
	}
	res := endTick(t, b, be)
	if res.Tick != 1 || !slices.Equal(pagesOf(res.Changes), []uint64{2, 5, 9}) {
		t.Fatalf("changes %v in tick %d", pagesOf(res.Changes), res.Tick)
	}
	if !bytes.Equal(res.Changes[0].Image, img(ps, 2, 1, 2)) || res.Changes[2].NPages != 2 {
		t.Fatal("change carries a stale image or wrong size")
	}
	if st := b.Stats(); st.TickLen != 0 || st.TickBytes != 0 || st.MaxTickLen != 3 {
		t.Fatalf("tick list not emptied: %+v", st)
	}
	if res := endTick(t, b, be); len(res.Changes) != 0 || res.Tick != 2 {
		t.Fatalf("empty tick reported %v", res)
	}
	if _, err := b.EndTick(7); !errors.Is(err, ErrTick) {
		t.Fatalf("EndTick of a tick not open: %v", err)
	}
}

// Entries on the tick list are neither evicted nor written, whatever the
// capacity.
func TestTickListNeverEvicted(t *testing.T) {
	be := newMem(ps)
	b := writer(t, 3, 1, be)
	for p := uint64(0); p < 5; p++ {
		mustWrite(t, b, p, img(ps, p, 1, 1), true)
	}
	if _, err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	st := b.Stats()
	if st.Entries != 5 || st.OverCapacity == 0 || len(be.writes) != 0 || st.Evictions != 0 {
		t.Fatalf("tick list entries evicted or written: %+v, writes %d", st, len(be.writes))
	}
	for p := uint64(0); p < 5; p++ {
		mustRead(t, b, p, 1)
	}
	if b.Stats().Loads != 0 {
		t.Fatal("a tick list entry had to be loaded")
	}
}

func TestOverLimit(t *testing.T) {
	be := newMem(ps)
	b := newBuf(t, Config{MaxPages: 100, Mode: SWMRWriter, MaxLag: 3, TickBytesLimit: 3 * ps}, be)
	mustWrite(t, b, 1, img(ps, 1, 2, 1), true)
	if b.OverLimit() {
		t.Fatal("over limit at 2 pages")
	}
	mustWrite(t, b, 1, img(ps, 1, 2, 2), true) // same entry again: no new bytes
	if b.OverLimit() {
		t.Fatal("rewrite counted twice")
	}
	mustWrite(t, b, 7, img(ps, 7, 1, 1), true)
	if !b.OverLimit() {
		t.Fatal("not over limit at 3 pages")
	}
	endTick(t, b, be)
	if b.OverLimit() || b.TickBytes() != 0 {
		t.Fatal("tick byte count not reset at end of tick")
	}
}

// A fresh entry is written back once the index naming it is published, not
// before, even when flushed.
func TestFreshWrittenAfterPublication(t *testing.T) {
	be := newMem(ps)
	b := writer(t, 5, 100, be)
	mustWrite(t, b, 4, img(ps, 4, 1, 1), true)
	if pending, _ := b.Flush(); pending != 1 || len(be.writes) != 0 {
		t.Fatalf("fresh entry written in its own tick (pending %d)", pending)
	}
	endTick(t, b, be) // tick 1: not yet published inside EndTick
	if len(be.writes) != 0 {
		t.Fatal("fresh entry written before its tick was published")
	}
	if pending, err := b.Flush(); err != nil || pending != 0 {
		t.Fatalf("flush in tick 2: %d %v", pending, err)
	}
	if w := be.writesTo(4); len(w) != 1 || w[0].published != 1 {
		t.Fatalf("writes %v, want one after tick 1 was published", w)
	}
	if st := b.Stats(); st.DelayedWrites != 0 {
		t.Fatalf("a fresh entry counted as delayed: %d", st.DelayedWrites)
	}
}

// TestChangeZeros: the zeros WriteUsed vouches for reach the end of tick
// with the change; a later Write, which vouches for none, clears them.
func TestChangeZeros(t *testing.T) {
	b := newBuf(t, Config{MaxPages: 10, Mode: SWMRWriter, MaxLag: 3}, newMem(ps))
	used := func(page uint64, n int) {
		p := make([]byte, ps)
		copy(p, bytes.Repeat([]byte{9}, n))
		if err := b.WriteUsed(page, p, n, true); err != nil {
			t.Fatal(err)
		}
		if err := b.CheckInvariants(); err != nil {
			t.Fatal(err)
		}
	}
	used(1, ps/4)
	used(2, ps)
	mustWrite(t, b, 3, img(ps, 3, 1, 1), true)
	res, err := b.EndTick(1)
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for _, c := range res.Changes {
		got = append(got, c.Zeros)
	}
	if want := []int{ps - ps/4, 0, 0}; !slices.Equal(got, want) {
		t.Fatalf("zeros %v, want %v", got, want)
	}
	mustWrite(t, b, 1, img(ps, 1, 1, 2), false)
	if res, err = b.EndTick(2); err != nil {
		t.Fatal(err)
	}
	if len(res.Changes) != 1 || res.Changes[0].Zeros != 0 {
		t.Fatalf("after Write: %+v", res.Changes)
	}
}
