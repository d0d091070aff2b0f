package pagebuf

import (
	"bytes"
	"errors"
	"testing"
)

const ps = 64 // page size of the unit tests

func newBuf(t *testing.T, cfg Config, be Backend) *Buffer {
	t.Helper()
	if cfg.PageSize == 0 {
		cfg.PageSize = ps
	}
	b, err := New(cfg, be)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.CheckInvariants(); err != nil {
			t.Error(err)
		}
	})
	return b
}

func mustRead(t *testing.T, b *Buffer, page uint64, n int) []byte {
	t.Helper()
	p, err := b.Read(page, n)
	if err != nil {
		t.Fatalf("read %d: %v", page, err)
	}
	return p
}

func mustWrite(t *testing.T, b *Buffer, page uint64, data []byte, fresh bool) {
	t.Helper()
	if err := b.Write(page, data, fresh); err != nil {
		t.Fatalf("write %d: %v", page, err)
	}
	if err := b.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
}

func TestPlainReadLoadsOnceFromFile(t *testing.T) {
	fb := newFileBackend(t, ps)
	for p := uint64(0); p < 4; p++ {
		if err := fb.WritePages(p, img(ps, p, 1, 1)); err != nil {
			t.Fatal(err)
		}
	}
	b := newBuf(t, Config{MaxPages: 8}, fb)
	for range 3 {
		for p := uint64(0); p < 4; p++ {
			if got := mustRead(t, b, p, 1); !bytes.Equal(got, img(ps, p, 1, 1)) {
				t.Fatalf("page %d: wrong image", p)
			}
		}
	}
	// Past the end of the file: zeros, not an error.
	if got := mustRead(t, b, 100, 2); !bytes.Equal(got, make([]byte, 2*ps)) {
		t.Fatal("page beyond end of file not zero")
	}
	st := b.Stats()
	if st.Loads != 5 || st.Misses != 5 || st.Hits != 8 || st.Accesses != 13 {
		t.Fatalf("loads %d misses %d hits %d accesses %d, want 5 5 8 13", st.Loads, st.Misses, st.Hits, st.Accesses)
	}
	if st.Entries != 5 || st.Pages != 6 || st.MultiPageEntries != 1 {
		t.Fatalf("entries %d pages %d multi %d", st.Entries, st.Pages, st.MultiPageEntries)
	}
}

// A dirty entry reaching the LRU tail is written and gets a second chance;
// the clean entry behind it goes first.
func TestPlainSecondChance(t *testing.T) {
	be := newMem(ps)
	b := newBuf(t, Config{MaxPages: 2}, be)
	mustWrite(t, b, 1, img(ps, 1, 1, 1), false) // oldest, dirty
	mustRead(t, b, 2, 1)                        // clean
	mustRead(t, b, 3, 1)                        // over capacity
	if len(be.writes) != 1 || be.writes[0].page != 1 {
		t.Fatalf("writes %v, want page 1 written once", be.writes)
	}
	loads := b.Stats().Loads
	mustRead(t, b, 1, 1) // still held
	if b.Stats().Loads != loads {
		t.Fatal("dirty page was evicted instead of getting a second chance")
	}
	mustRead(t, b, 2, 1) // was evicted
	if b.Stats().Loads != loads+1 {
		t.Fatal("clean page 2 was not the one evicted")
	}
	if st := b.Stats(); st.Evictions != 2 || st.Flushes != 1 {
		t.Fatalf("evictions %d flushes %d, want 2 1", st.Evictions, st.Flushes)
	}
}

func TestPlainFlushWritesEverything(t *testing.T) {
	fb := newFileBackend(t, ps)
	b := newBuf(t, Config{MaxPages: 100}, fb)
	for p := uint64(0); p < 10; p += 2 {
		mustWrite(t, b, p, img(ps, p, 2, 3), true)
	}
	pending, err := b.Flush()
	if err != nil || pending != 0 {
		t.Fatalf("flush: %d pending, %v", pending, err)
	}
	for p := uint64(0); p < 10; p += 2 {
		got := make([]byte, 2*ps)
		if err := fb.ReadPages(p, got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, img(ps, p, 2, 3)) {
			t.Fatalf("file lacks entry %d after flush", p)
		}
	}
	if st := b.Stats(); st.DirtyEntries != 0 || st.Entries != 5 || st.Flushes != 5 {
		t.Fatalf("after flush: %+v", st)
	}
	if pending, _ := b.Flush(); pending != 0 || b.Stats().Flushes != 5 {
		t.Fatal("second flush wrote clean entries")
	}
}

func TestPlainMultiPageAndResize(t *testing.T) {
	be := newMem(ps)
	b := newBuf(t, Config{MaxPages: 4}, be)
	mustWrite(t, b, 10, img(ps, 10, 3, 1), true)
	if _, err := b.Read(10, 1); !errors.Is(err, ErrShape) {
		t.Fatalf("read with wrong size: %v", err)
	}
	if got := mustRead(t, b, 10, 3); !bytes.Equal(got, img(ps, 10, 3, 1)) {
		t.Fatal("wrong multi-page image")
	}
	mustWrite(t, b, 10, img(ps, 10, 2, 2), false) // the object shrank
	if st := b.Stats(); st.Pages != 2 || st.MultiPageEntries != 1 {
		t.Fatalf("after resize: pages %d multi %d", st.Pages, st.MultiPageEntries)
	}
	mustRead(t, b, 20, 1)
	mustRead(t, b, 21, 1)
	mustRead(t, b, 22, 1) // evicts: the dirty entry is written whole
	if w := be.writesTo(10); len(w) != 1 || !bytes.Equal(w[0].data, img(ps, 10, 2, 2)) {
		t.Fatalf("writes of entry 10: %v", w)
	}
}

// Entries never overlap: a page inside a held multi-page entry cannot be
// read or written as an entry of its own.
func TestNoOverlap(t *testing.T) {
	b := newBuf(t, Config{MaxPages: 10}, newMem(ps))
	mustWrite(t, b, 10, img(ps, 10, 3, 1), true)
	if _, err := b.Read(11, 1); !errors.Is(err, ErrShape) {
		t.Errorf("read inside: %v", err)
	}
	if err := b.Write(12, img(ps, 12, 1, 1), true); !errors.Is(err, ErrShape) {
		t.Errorf("write inside: %v", err)
	}
	if err := b.Write(9, img(ps, 9, 2, 1), true); !errors.Is(err, ErrShape) {
		t.Errorf("write over the first page: %v", err)
	}
	if err := b.Write(11, img(ps, 11, 4, 1), true); !errors.Is(err, ErrShape) {
		t.Errorf("write across: %v", err)
	}
	mustWrite(t, b, 8, img(ps, 8, 2, 1), true)    // just before
	mustWrite(t, b, 10, img(ps, 10, 4, 2), false) // the entry itself grows
	mustRead(t, b, 14, 1)                         // just after
	if _, err := b.Read(10, 5); !errors.Is(err, ErrShape) {
		t.Errorf("read with the wrong size: %v", err)
	}
}

func TestPlainFreeDropsWithoutWriting(t *testing.T) {
	be := newMem(ps)
	be.put(5, img(ps, 5, 1, 0))
	b := newBuf(t, Config{MaxPages: 4}, be)
	mustWrite(t, b, 5, img(ps, 5, 1, 1), false)
	b.Free(5, 1)
	if pending, err := b.Flush(); err != nil || pending != 0 || len(be.writes) != 0 {
		t.Fatalf("freed entry written: %v %d %v", be.writes, pending, err)
	}
	if got := mustRead(t, b, 5, 1); !bytes.Equal(got, img(ps, 5, 1, 0)) {
		t.Fatal("freed entry still held")
	}
	if st := b.Stats(); st.Clears != 1 {
		t.Fatalf("clears %d", st.Clears)
	}
}

func TestBadInput(t *testing.T) {
	be := newMem(ps)
	for _, cfg := range []Config{
		{PageSize: 0, MaxPages: 1},
		{PageSize: 100, MaxPages: 1},
		{PageSize: ps, MaxPages: 0},
		{PageSize: ps, MaxPages: 1, Mode: SWMRWriter},
		{PageSize: ps, MaxPages: 1, Mode: Mode(9)},
		{PageSize: ps, MaxPages: 1, Mode: SWMRReader, Follower: true},
		{PageSize: ps, MaxPages: 1, Leader: true, Follower: true},
		{PageSize: ps, MaxPages: 1, TickBytesLimit: -1},
	} {
		if _, err := New(cfg, be); !errors.Is(err, ErrConfig) {
			t.Errorf("New(%+v): %v, want ErrConfig", cfg, err)
		}
	}
	if _, err := New(Config{PageSize: ps, MaxPages: 1}, nil); !errors.Is(err, ErrConfig) {
		t.Errorf("nil backend: %v", err)
	}
	b := newBuf(t, Config{MaxPages: 4}, be)
	if err := b.Write(1, make([]byte, ps+1), true); !errors.Is(err, ErrLength) {
		t.Errorf("odd length: %v", err)
	}
	if err := b.Write(1, nil, true); !errors.Is(err, ErrLength) {
		t.Errorf("empty write: %v", err)
	}
	if _, err := b.Read(1, 0); !errors.Is(err, ErrLength) {
		t.Errorf("read of 0 pages: %v", err)
	}
	if _, err := b.EndTick(1); !errors.Is(err, ErrTick) {
		t.Errorf("EndTick in plain mode: %v", err)
	}
	if err := b.MarkClean([]uint64{1}); !errors.Is(err, ErrRole) {
		t.Errorf("MarkClean on a non-follower: %v", err)
	}
	if b.TakeWritten() != nil {
		t.Error("TakeWritten on a non-leader")
	}
	r := newBuf(t, Config{MaxPages: 4, Mode: SWMRReader}, be)
	if err := r.Write(1, make([]byte, ps), true); !errors.Is(err, ErrReadOnly) {
		t.Errorf("reader write: %v", err)
	}
}

func TestBackendErrors(t *testing.T) {
	be := newMem(ps)
	boom := errors.New("disk on fire")
	b := newBuf(t, Config{MaxPages: 4}, be)
	be.failRead = boom
	if _, err := b.Read(3, 1); !errors.Is(err, boom) {
		t.Fatalf("load error: %v", err)
	}
	be.failRead = nil
	if b.Stats().Entries != 0 {
		t.Fatal("failed load left an entry")
	}
	mustWrite(t, b, 3, img(ps, 3, 1, 1), true)
	be.failWrite = boom
	if _, err := b.Flush(); !errors.Is(err, boom) {
		t.Fatalf("write-back error: %v", err)
	}
	if b.Stats().DirtyEntries != 1 {
		t.Fatal("entry lost its dirty state after a failed write")
	}
	be.failWrite = nil
	if pending, err := b.Flush(); err != nil || pending != 0 || !bytes.Equal(be.image(3, 1), img(ps, 3, 1, 1)) {
		t.Fatalf("retry: %d %v", pending, err)
	}
}

// The hash is the page masked by the table size: sequential pages never
// share a bucket, pages a table size apart all do, and the statistics say so.
func TestHashChainStats(t *testing.T) {
	b := newBuf(t, Config{MaxPages: 1000}, newMem(ps))
	for p := uint64(0); p < 1000; p++ {
		mustRead(t, b, p, 1)
	}
	for p := uint64(0); p < 1000; p++ {
		mustRead(t, b, p, 1)
	}
	st := b.Stats()
	if st.Buckets != 1024 || st.LongestChain != 1 || st.UsedBuckets != 1000 || st.FoundDepth != 0 || st.FoundSearches != 1000 {
		t.Fatalf("sequential pages: %+v", st)
	}
	c := newBuf(t, Config{MaxPages: 1000}, newMem(ps))
	for i := uint64(0); i < 8; i++ {
		mustRead(t, c, i*1024, 1)
	}
	mustRead(t, c, 0, 1) // the oldest, at the end of its chain
	st = c.Stats()
	if st.LongestChain != 8 || st.UsedBuckets != 1 || st.FoundDepth != 7 || st.MaxSearchDepth != 7 {
		t.Fatalf("colliding pages: %+v", st)
	}
}
