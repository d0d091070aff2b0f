package pagebuf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"testing"

	"github.com/cespare/xxhash/v2"
)

// A follower never writes; its dirty entries stay (over capacity) until the
// leader reports them written, then they can be evicted.
func TestFollowerWaitsForMarkClean(t *testing.T) {
	be := newMem(ps)
	boom := errors.New("follower must not write")
	be.failWrite = boom
	b := newBuf(t, Config{MaxPages: 1, Mode: SWMRWriter, MaxLag: 2, Follower: true}, be)
	for p := uint64(0); p < 4; p++ {
		mustWrite(t, b, p, img(ps, p, 1, 1), p < 2)
	}
	if err := b.MarkClean([]uint64{1}); !errors.Is(err, ErrRole) {
		t.Fatalf("MarkClean of a page changed this tick: %v", err)
	}
	for range 5 {
		endTick(t, b, nil)
	}
	pending, err := b.Flush()
	if err != nil || pending != 4 {
		t.Fatalf("follower flush: %d pending, %v", pending, err)
	}
	if st := b.Stats(); st.Entries != 4 || st.Evictions != 0 {
		t.Fatalf("follower evicted a dirty entry: %+v", st)
	}
	if err := b.MarkClean([]uint64{0, 2, 99}); err != nil {
		t.Fatal(err)
	}
	if pending, _ := b.Flush(); pending != 2 {
		t.Fatalf("pending %d after marking 2 clean", pending)
	}
	if st := b.Stats(); st.Entries != 2 || st.Evictions != 2 {
		t.Fatalf("clean entries not evicted to make room: %+v", st)
	}
}

// The leader reports pages it wrote back and has not changed since.
func TestLeaderTakeWritten(t *testing.T) {
	be := newMem(ps)
	b := newBuf(t, Config{MaxPages: 10, Mode: SWMRWriter, MaxLag: 2, Leader: true}, be)
	mustWrite(t, b, 1, img(ps, 1, 1, 1), true)
	mustWrite(t, b, 2, img(ps, 2, 1, 1), true)
	mustWrite(t, b, 5, img(ps, 5, 2, 1), true)
	endTick(t, b, be)
	if got := b.TakeWritten(); len(got) != 0 {
		t.Fatalf("written %v before any write", got)
	}
	if _, err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, b, 2, img(ps, 2, 1, 2), false) // changed again since written
	if got := b.TakeWritten(); !slices.Equal(got, []uint64{1, 5}) {
		t.Fatalf("written %v, want [1 5]", got)
	}
	if got := b.TakeWritten(); len(got) != 0 {
		t.Fatalf("second call returned %v", got)
	}
}

func TestStreamDigest(t *testing.T) {
	writes := []struct {
		page uint64
		data []byte
	}{{3, img(ps, 3, 1, 1)}, {9, img(ps, 9, 2, 1)}, {3, img(ps, 3, 1, 2)}}
	run := func(mode Mode, change func(i int, page uint64, data []byte) (uint64, []byte)) (uint64, int64) {
		b := newBuf(t, Config{MaxPages: 10, Mode: mode, MaxLag: 3}, newMem(ps))
		for i, w := range writes {
			p, d := change(i, w.page, bytes.Clone(w.data))
			mustWrite(t, b, p, d, true)
		}
		return b.Stream()
	}
	same := func(_ int, p uint64, d []byte) (uint64, []byte) { return p, d }
	d1, n1 := run(SWMRWriter, same)
	d2, n2 := run(Plain, same)
	h := xxhash.New()
	for _, w := range writes {
		h.Write(binary.LittleEndian.AppendUint64(nil, w.page))
		h.Write(w.data)
	}
	if d1 != d2 || n1 != n2 || d1 != h.Sum64() || n1 != 4*ps {
		t.Fatalf("digests %x %x (want %x), bytes %d %d", d1, d2, h.Sum64(), n1, n2)
	}
	if d, _ := run(SWMRWriter, func(i int, p uint64, d []byte) (uint64, []byte) {
		if i == 1 {
			p = 10
		}
		return p, d
	}); d == d1 {
		t.Fatal("a different page address gives the same digest")
	}
	if d, _ := run(SWMRWriter, func(i int, p uint64, d []byte) (uint64, []byte) {
		if i == 2 {
			d[ps-1] ^= 1
		}
		return p, d
	}); d == d1 {
		t.Fatal("a different byte gives the same digest")
	}
	b := newBuf(t, Config{MaxPages: 10}, newMem(ps))
	mustWrite(t, b, 1, img(ps, 1, 1, 1), true)
	b.ResetStream()
	if d, n := b.Stream(); d != xxhash.Sum64(nil) || n != 0 {
		t.Fatalf("after reset: %x %d", d, n)
	}
	b = newBuf(t, Config{MaxPages: 10, Mode: SWMRWriter, MaxLag: 3, NoStream: true}, newMem(ps))
	for _, w := range writes {
		mustWrite(t, b, w.page, bytes.Clone(w.data), true)
	}
	if d, n := b.Stream(); d != xxhash.Sum64(nil) || n != n1 {
		t.Fatalf("NoStream: digest %x (want that of nothing), bytes %d (want %d)", d, n, n1)
	}
}
