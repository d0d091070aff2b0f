package pagebuf

import (
	"bytes"
	"errors"
	"testing"
)

// TestWriteAllEndsDelays: entries whose delay runs for max_lag more ticks
// reach the Backend at WriteAll, with the images last published, in one
// write per run of adjacent pages; later writes back are not delayed.
func TestWriteAllEndsDelays(t *testing.T) {
	be := newMem(ps)
	b := writer(t, 5, 100, be)
	for p := uint64(1); p <= 4; p++ {
		mustRead(t, b, p, 1) // in the data file outside the index: delayed max_lag ticks
		mustWrite(t, b, p, img(ps, p, 1, 1), false)
	}
	mustWrite(t, b, 9, img(ps, 9, 2, 1), true)
	endTick(t, b, be)
	mustWrite(t, b, 2, img(ps, 2, 1, 2), false)
	endTick(t, b, be)
	if n, err := b.Flush(); err != nil || n != 4 {
		t.Fatalf("before WriteAll: %d pending, %v; want pages 1-4 waiting", n, err)
	}
	before := len(be.writes)
	if err := b.WriteAll(); err != nil {
		t.Fatal(err)
	}
	if err := b.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
	if n, err := b.Flush(); err != nil || n != 0 {
		t.Fatalf("after WriteAll: %d pending, %v", n, err)
	}
	if got := len(be.writes) - before; got != 1 {
		t.Fatalf("WriteAll made %d writes, want one for pages 1-4", got)
	}
	for p := uint64(1); p <= 4; p++ {
		want := img(ps, p, 1, 1)
		if p == 2 {
			want = img(ps, 2, 1, 2)
		}
		if !bytes.Equal(be.image(p, 1), want) {
			t.Fatalf("page %d: data file does not hold the last published image", p)
		}
	}
	// A change after WriteAll, once published, goes at the next end of tick.
	mustWrite(t, b, 3, img(ps, 3, 1, 3), false)
	endTick(t, b, be)
	if !bytes.Equal(be.image(3, 1), img(ps, 3, 1, 3)) {
		t.Fatal("a write back after WriteAll was still delayed")
	}
}

// TestWriteAllRefuses: an open tick's changes (in no published index), a
// follower (never writes) and a reader are errors.
func TestWriteAllRefuses(t *testing.T) {
	be := newMem(ps)
	b := writer(t, 3, 100, be)
	mustWrite(t, b, 1, img(ps, 1, 1, 1), true)
	if err := b.WriteAll(); !errors.Is(err, ErrTick) || len(be.writes) != 0 {
		t.Fatalf("WriteAll with an open tick: %v, %d writes", err, len(be.writes))
	}
	f := newBuf(t, Config{MaxPages: 10, Mode: SWMRWriter, MaxLag: 3, Follower: true}, newMem(ps))
	if err := f.WriteAll(); !errors.Is(err, ErrTick) {
		t.Fatalf("follower WriteAll: %v", err)
	}
	r := newBuf(t, Config{MaxPages: 10, Mode: SWMRReader}, newMem(ps))
	if err := r.WriteAll(); !errors.Is(err, ErrTick) {
		t.Fatalf("reader WriteAll: %v", err)
	}
	be.failWrite = errors.New("disk gone")
	endTick(t, b, be)
	mustWrite(t, b, 1, img(ps, 1, 1, 2), false)
	endTick(t, b, be)
	if err := b.WriteAll(); !errors.Is(err, be.failWrite) {
		t.Fatalf("WriteAll with a failing backend: %v", err)
	}
}

// TestInvalidateAll drops every clean entry, multi-page ones too, tells
// the hook, and keeps dirty ones.
func TestInvalidateAll(t *testing.T) {
	be := newMem(ps)
	b := newBuf(t, Config{MaxPages: 10, Mode: Plain}, be)
	mustRead(t, b, 1, 1)
	mustRead(t, b, 4, 2)
	mustWrite(t, b, 8, img(ps, 8, 1, 1), false)
	var hooked []uint64
	b.SetEvictHook(func(p []uint64) { hooked = append(hooked, p...) })
	gone := b.InvalidateAll()
	if len(gone) != 2 || len(hooked) != 2 {
		t.Fatalf("dropped %v, hook told %v; want pages 1 and 4", gone, hooked)
	}
	if err := b.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
	if st := b.Stats(); st.DirtyEntries != 1 || st.Entries != 1 {
		t.Fatalf("dirty entries after InvalidateAll: %+v", st)
	}
}
