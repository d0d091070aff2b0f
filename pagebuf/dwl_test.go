package pagebuf

import (
	"bytes"
	"slices"
	"testing"
)

// An entry loaded from the data file and changed in tick T reaches the data
// file in tick T+max_lag at the earliest; Flush reports it pending until then.
func TestDelayedWriteLoadedPage(t *testing.T) {
	be := newMem(ps)
	be.put(3, img(ps, 3, 1, 0))
	b := writer(t, 3, 100, be)
	mustRead(t, b, 3, 1)
	mustWrite(t, b, 3, img(ps, 3, 1, 1), true) // fresh is wrong here: the buffer knows it was loaded
	for tick := uint64(1); tick <= 3; tick++ {
		if pending, _ := b.Flush(); pending != 1 {
			t.Fatalf("tick %d: pending %d", tick, pending)
		}
		endTick(t, b, be)
		if len(be.writes) != 0 {
			t.Fatalf("written in end of tick %d, delay runs to tick 4", tick)
		}
	}
	if pending, err := b.Flush(); err != nil || pending != 0 {
		t.Fatalf("tick 4: pending %d, %v", pending, err)
	}
	if w := be.writesTo(3); len(w) != 1 || w[0].published != 3 || !bytes.Equal(w[0].data, img(ps, 3, 1, 1)) {
		t.Fatalf("writes %v", w)
	}
	if st := b.Stats(); st.DelayedWrites != 1 || st.TotalDelay != 3 || st.MaxDWLLen != 1 {
		t.Fatalf("delay stats: %+v", st)
	}
}

// fresh=false says the page exists in the data file: same delay, and the
// write happens inside EndTick of the first tick that allows it.
func TestDelayedWriteNotFresh(t *testing.T) {
	be := newMem(ps)
	b := writer(t, 2, 100, be)
	mustWrite(t, b, 8, img(ps, 8, 1, 1), false)
	endTick(t, b, be)
	endTick(t, b, be)
	if len(be.writes) != 0 {
		t.Fatal("written before tick 3")
	}
	endTick(t, b, be) // tick 3 = 1 + max_lag: allowed
	if w := be.writesTo(8); len(w) != 1 || w[0].published != 2 {
		t.Fatalf("writes %v, want one during end of tick 3", w)
	}
}

// The delayed write list is ordered by the tick each entry may be written;
// entries go to the data file in that order, each at its own tick.
func TestDWLOrder(t *testing.T) {
	be := newMem(ps)
	b := writer(t, 4, 100, be)
	mustWrite(t, b, 1, img(ps, 1, 1, 1), false) // tick 1 + 4 = 5
	mustWrite(t, b, 2, img(ps, 2, 1, 1), true)  // 2
	endTick(t, b, be)
	mustWrite(t, b, 3, img(ps, 3, 1, 1), false) // 2 + 4 = 6
	mustWrite(t, b, 4, img(ps, 4, 1, 1), true)  // 3
	var order []uint64
	for head := b.dwl.head; head != nil; head = head.rep.next {
		order = append(order, head.page)
	}
	if !slices.Equal(order, []uint64{2, 4, 1, 3}) {
		t.Fatalf("DWL order %v", order)
	}
	for range 6 {
		endTick(t, b, be)
	}
	got := map[uint64]uint64{}
	for _, w := range be.writes {
		got[w.page] = w.published + 1 // the tick the write happened in
	}
	want := map[uint64]uint64{2: 2, 4: 3, 1: 5, 3: 6}
	for p, tk := range want {
		if got[p] != tk {
			t.Errorf("page %d written in tick %d, want %d", p, got[p], tk)
		}
	}
}

// Pages leave the index once their current image is in the data file and
// unchanged for max_lag ticks; changing one again keeps it in.
func TestIndexRemoval(t *testing.T) {
	be := newMem(ps)
	b := writer(t, 3, 100, be)
	removedAt := map[uint64]uint64{}
	mustWrite(t, b, 1, img(ps, 1, 1, 1), true)  // fresh: written in tick 2, unchanged since 1 -> leaves at 4
	mustWrite(t, b, 2, img(ps, 2, 1, 1), false) // delayed to tick 4, written at end of tick 4 -> leaves at 4
	mustWrite(t, b, 3, img(ps, 3, 1, 1), true)  // changed again in tick 3 -> leaves at 6
	for tick := uint64(1); tick <= 8; tick++ {
		if tick == 3 {
			mustWrite(t, b, 3, img(ps, 3, 1, 2), false)
		}
		if _, err := b.Flush(); err != nil {
			t.Fatal(err)
		}
		res := endTick(t, b, be)
		for _, p := range res.Remove {
			if _, dup := removedAt[p]; dup {
				t.Fatalf("page %d removed twice", p)
			}
			removedAt[p] = tick
		}
	}
	want := map[uint64]uint64{1: 4, 2: 4, 3: 6}
	for p, tk := range want {
		if removedAt[p] != tk {
			t.Errorf("page %d left the index at tick %d, want %d", p, removedAt[p], tk)
		}
	}
}

// The RFC's flush in VFD SWMR writer mode: flushing writes what it may and
// the delayed write list drains in exactly max_lag ticks.
func TestFlushDrainsInMaxLagTicks(t *testing.T) {
	for _, lag := range []uint64{1, 3, 10} {
		be := newMem(ps)
		b := writer(t, lag, 4, be)
		for p := uint64(0); p < 10; p++ {
			mustWrite(t, b, p, img(ps, p, 1, 1), p%2 == 0)
		}
		endTick(t, b, be) // the final tick of close
		ticks := uint64(0)
		for {
			pending, err := b.Flush()
			if err != nil {
				t.Fatal(err)
			}
			if pending == 0 {
				break
			}
			endTick(t, b, be)
			ticks++
		}
		if ticks != lag-1 {
			t.Errorf("lag %d: drained after %d more ticks, want %d", lag, ticks, lag-1)
		}
		for p := uint64(0); p < 10; p++ {
			if !bytes.Equal(be.image(p, 1), img(ps, p, 1, 1)) {
				t.Fatalf("lag %d: page %d not in the data file", lag, p)
			}
		}
	}
}

// A writer keeps a multi-page entry only while it is on the tick list or
// waits to be written; then it is written whole and dropped.
func TestMultiPageWriterLifecycle(t *testing.T) {
	be := newMem(ps)
	b := writer(t, 2, 100, be)
	mustWrite(t, b, 10, img(ps, 10, 3, 1), true)
	mustWrite(t, b, 20, img(ps, 20, 4, 1), false)
	var hooked []uint64
	b.SetEvictHook(func(p []uint64) { hooked = append(hooked, p...) })
	endTick(t, b, be)
	if st := b.Stats(); st.MultiPageEntries != 2 || len(be.writes) != 0 {
		t.Fatalf("after tick 1: %+v", st)
	}
	endTick(t, b, be) // 10 may go (fresh, published in tick 1); 20 waits for tick 1 + lag = 3
	if w := be.writesTo(10); len(w) != 1 || len(w[0].data) != 3*ps {
		t.Fatalf("entry 10 writes %v", w)
	}
	if st := b.Stats(); st.MultiPageEntries != 1 || len(be.writesTo(20)) != 0 {
		t.Fatalf("after tick 2: %+v", st)
	}
	endTick(t, b, be)
	if st := b.Stats(); st.MultiPageEntries != 0 || len(be.writesTo(20)) != 1 {
		t.Fatalf("after tick 3: %+v", st)
	}
	if !slices.Equal(hooked, []uint64{10, 20}) {
		t.Fatalf("hook saw %v", hooked)
	}
	// Reading it back loads it, but a writer does not keep it.
	if got := mustRead(t, b, 20, 4); !bytes.Equal(got, img(ps, 20, 4, 1)) {
		t.Fatal("wrong image")
	}
	if b.Stats().Entries != 0 {
		t.Fatal("writer kept a clean multi-page entry")
	}
}

// A freed page leaves the index at the end of the tick it was freed in, and
// its pending change is never written.
func TestFreeWhileDelayed(t *testing.T) {
	be := newMem(ps)
	b := writer(t, 3, 100, be)
	mustWrite(t, b, 6, img(ps, 6, 1, 1), false)
	mustWrite(t, b, 7, img(ps, 7, 1, 1), true)
	endTick(t, b, be)
	b.Free(6, 1)
	res := endTick(t, b, be)
	if !slices.Equal(res.Remove, []uint64{6}) {
		t.Fatalf("remove %v, want [6]", res.Remove)
	}
	for range 5 {
		endTick(t, b, be)
	}
	if len(be.writesTo(6)) != 0 {
		t.Fatal("freed page was written")
	}
	if len(be.writesTo(7)) != 1 {
		t.Fatal("page 7 not written")
	}
}

// Due entries on adjacent pages go to the data file in one write, in page
// order; an entry not yet due, or a gap, splits the write.
func TestWriteBackGathersAdjacent(t *testing.T) {
	be := newMem(ps)
	b := writer(t, 2, 100, be)
	for _, p := range []uint64{3, 1, 2, 5, 7} { // due at tick 3
		mustWrite(t, b, p, img(ps, p, 1, 1), false)
	}
	endTick(t, b, be)
	mustWrite(t, b, 6, img(ps, 6, 1, 1), false) // due at tick 4
	endTick(t, b, be)
	before := len(be.writes)
	endTick(t, b, be)
	var runs [][2]uint64
	for _, w := range be.writes[before:] {
		runs = append(runs, [2]uint64{w.page, uint64(w.npages)})
	}
	if want := [][2]uint64{{1, 3}, {5, 1}, {7, 1}}; !slices.Equal(runs, want) {
		t.Fatalf("writes (page, pages) %v, want %v", runs, want)
	}
	for _, p := range []uint64{1, 2, 3, 5, 7} {
		if !bytes.Equal(be.image(p, 1), img(ps, p, 1, 1)) {
			t.Errorf("page %d not written back", p)
		}
	}
	if st := b.Stats(); st.Flushes != 5 {
		t.Errorf("%d entries written back, want 5", st.Flushes)
	}
}

// SetOldest holds a delayed write back past its max_lag ticks while the
// coordinator's oldest tick a reader may be on has not reached the tick of
// the change; it goes at the first end of tick after the oldest tick does.
func TestSetOldestHoldsDelayedWrite(t *testing.T) {
	be := newMem(ps)
	b := writer(t, 2, 100, be)
	mustWrite(t, b, 8, img(ps, 8, 1, 1), false) // changed in tick 1: writeAt 3
	for range 6 {
		b.SetOldest(0) // a reader may still be on any tick
		endTick(t, b, be)
	}
	if len(be.writes) != 0 {
		t.Fatal("written while a reader may be on a tick before the change")
	}
	if pending, _ := b.Flush(); pending != 1 {
		t.Fatalf("pending %d, want 1", pending)
	}
	b.SetOldest(1) // readers are on tick 1 or later: they see the change
	if pending, err := b.Flush(); err != nil || pending != 0 {
		t.Fatalf("pending %d, %v after the oldest tick reached the change", pending, err)
	}
	if w := be.writesTo(8); len(w) != 1 || !bytes.Equal(w[0].data, img(ps, 8, 1, 1)) {
		t.Fatalf("writes %v", w)
	}
}
