package pagebuf

import (
	"bytes"
	"slices"
	"testing"
)

func reader(t *testing.T, capacity int, be Backend) *Buffer {
	return newBuf(t, Config{MaxPages: capacity, Mode: SWMRReader}, be)
}

// A reader keeps serving its snapshot until a new index says a page changed;
// then that page, and only it, is dropped and reloaded.
func TestReaderInvalidatePages(t *testing.T) {
	be := newMem(ps)
	for p := uint64(1); p <= 3; p++ {
		be.put(p, img(ps, p, 1, 0))
	}
	b := reader(t, 10, be)
	var hooked [][]uint64
	b.SetEvictHook(func(p []uint64) { hooked = append(hooked, slices.Clone(p)) })
	for p := uint64(1); p <= 3; p++ {
		mustRead(t, b, p, 1)
	}
	be.put(2, img(ps, 2, 1, 1)) // the writer's next tick changes page 2
	if got := mustRead(t, b, 2, 1); !bytes.Equal(got, img(ps, 2, 1, 0)) {
		t.Fatal("reader left its snapshot before adopting the new tick")
	}
	gone := b.Invalidate([]uint64{2, 40})
	if !slices.Equal(gone, []uint64{2}) || len(hooked) != 1 || !slices.Equal(hooked[0], []uint64{2}) {
		t.Fatalf("invalidated %v, hook %v", gone, hooked)
	}
	loads := b.Stats().Loads
	if got := mustRead(t, b, 2, 1); !bytes.Equal(got, img(ps, 2, 1, 1)) {
		t.Fatal("stale page after invalidation")
	}
	mustRead(t, b, 1, 1)
	mustRead(t, b, 3, 1)
	if st := b.Stats(); st.Loads != loads+1 || st.Invalidations != 1 {
		t.Fatalf("loads %d (want %d), invalidations %d", st.Loads, loads+1, st.Invalidations)
	}
	if pending, err := b.Flush(); pending != 0 || err != nil || len(be.writes) != 0 {
		t.Fatal("a reader wrote")
	}
}

// A multi-page entry goes when the index names its first page or any page
// inside it.
func TestReaderInvalidateMultiPage(t *testing.T) {
	be := newMem(ps)
	be.put(10, img(ps, 10, 3, 0))
	b := reader(t, 10, be)
	for _, listed := range []uint64{10, 11, 12} {
		mustRead(t, b, 10, 3)
		mustRead(t, b, 13, 1)
		gone := b.Invalidate([]uint64{listed})
		if !slices.Equal(gone, []uint64{10}) {
			t.Fatalf("listing page %d invalidated %v, want [10]", listed, gone)
		}
		if st := b.Stats(); st.MultiPageEntries != 0 || st.Entries != 1 {
			t.Fatalf("after invalidating via %d: %+v", listed, st)
		}
	}
	if gone := b.Invalidate([]uint64{14, 9}); len(gone) != 0 {
		t.Fatalf("pages next to the entry invalidated %v", gone)
	}
	// Sorted lists longer than the two entries held: looked up entry by
	// entry.
	for _, listed := range [][]uint64{{1, 2, 11, 20}, {9, 12, 14}, {0, 10, 99}} {
		mustRead(t, b, 10, 3)
		gone := b.Invalidate(listed)
		if !slices.Equal(gone, []uint64{10}) {
			t.Fatalf("listing pages %v invalidated %v, want [10]", listed, gone)
		}
	}
	if gone := b.Invalidate([]uint64{9, 14, 15}); len(gone) != 0 {
		t.Fatalf("pages next to the entry invalidated %v", gone)
	}
}

// Ordinary eviction calls the hook too, with the least recently used entry.
func TestReaderEvictHook(t *testing.T) {
	b := reader(t, 2, newMem(ps))
	var hooked []uint64
	b.SetEvictHook(func(p []uint64) { hooked = append(hooked, p...) })
	mustRead(t, b, 1, 1)
	mustRead(t, b, 2, 1)
	mustRead(t, b, 1, 1) // 2 is now least recently used
	mustRead(t, b, 3, 1)
	if !slices.Equal(hooked, []uint64{2}) {
		t.Fatalf("hook saw %v, want [2]", hooked)
	}
}

// A writer's own dirty entries are never invalidated.
func TestInvalidateKeepsDirty(t *testing.T) {
	be := newMem(ps)
	b := writer(t, 3, 10, be)
	mustWrite(t, b, 1, img(ps, 1, 1, 1), true)
	mustRead(t, b, 2, 1)
	if gone := b.Invalidate([]uint64{1, 2}); !slices.Equal(gone, []uint64{2}) {
		t.Fatalf("invalidated %v, want [2]", gone)
	}
	if got := mustRead(t, b, 1, 1); !bytes.Equal(got, img(ps, 1, 1, 1)) {
		t.Fatal("dirty entry lost")
	}
}
