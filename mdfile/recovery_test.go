package mdfile

import (
	"errors"
	"os"
	"testing"
	"time"

	"pwstore/internal/storage/corrupt"
	"pwstore/vfs"
)

// twoTicks writes tick 1 and tick 2 and returns the model of each.
func twoTicks(t *testing.T, path string) (*Writer, model, model) {
	t.Helper()
	w := mustCreate(t, vfs.OS, path, WriterOptions{PageSize: 512, MaxLag: 3})
	m1 := model{1: {1, 1}, 5: {1, 2}, 9: {1, 1}}
	if err := w.Update(1, []Image{
		{Page: 1, Data: testImage(1, 1, 1, 512)}, {Page: 5, Data: testImage(5, 1, 2, 512)}, {Page: 9, Data: testImage(9, 1, 1, 512)},
	}, nil); err != nil {
		t.Fatal(err)
	}
	m2 := model{1: {2, 1}, 5: {1, 2}, 12: {2, 1}}
	if err := w.Update(2, []Image{{Page: 1, Data: testImage(1, 2, 1, 512)}, {Page: 12, Data: testImage(12, 2, 1, 512)}}, []uint64{9}); err != nil {
		t.Fatal(err)
	}
	return w, m1, m2
}

// flipAt flips one byte of the file at off.
func flipAt(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := []byte{0}
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x40
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func TestRecoveryAndConsume(t *testing.T) {
	path := mdPath(t)
	w, _, m2 := twoTicks(t, path)
	w.f.Close() // the writer dies: no Close
	rc, err := OpenForRecovery(vfs.OS, path, ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rc.Snapshot.Tick() != 2 || rc.Snapshot.Header.Status != StatusOpen {
		t.Fatalf("recovered tick %d status %v", rc.Snapshot.Tick(), rc.Snapshot.Header.Status)
	}
	if err := checkSnapshot(rc.r, rc.Snapshot, m2); err != nil {
		t.Fatal(err)
	}
	if err := rc.MarkConsumed(); err != nil {
		t.Fatal(err)
	}
	rc.Close()
	r := mustOpen(t, path)
	if s := r.Current(); s.Header.Status != StatusConsumed || s.Len() != 0 || s.Tick() != 3 {
		t.Fatalf("after consume: %+v, %d entries", s.Header, s.Len())
	}
}

// TestBadNewestIndex: when the newest header's index is damaged, recovery
// and a new reader fall back to the previous tick (its space is intact
// for max_lag ticks); a reader already past it fails with ErrNoSnapshot
// after its retries, never with a wrong answer.
func TestBadNewestIndex(t *testing.T) {
	path := mdPath(t)
	w, m1, _ := twoTicks(t, path)
	r := mustOpen(t, path)
	if r.Current().Tick() != 2 {
		t.Fatalf("reader at %d", r.Current().Tick())
	}
	root := w.root.page * granule
	flipAt(t, path, int64(root)+20)

	r2 := mustOpen(t, path)
	if err := checkSnapshot(r2, r2.Current(), m1); err != nil || r2.Current().Tick() != 1 {
		t.Fatalf("fresh reader: tick %d, %v", r2.Current().Tick(), err)
	}
	rc, err := OpenForRecovery(vfs.OS, path, ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rc.Snapshot.Tick() != 1 {
		t.Fatalf("recovered tick %d, want 1", rc.Snapshot.Tick())
	}
	rc.Close()

	if err := w.Heartbeat(3, time.Now()); err != nil { // names the damaged index again
		t.Fatal(err)
	}
	r.opts.Retries, r.opts.MaxBackoff = 3, time.Millisecond
	if r.Current().Tick() != 2 {
		t.Fatal("reader lost its snapshot")
	}
	// Same index as the adopted tick 2: the heartbeat is adopted without rereading.
	if s, err := r.Load(); err != nil || s.Tick() != 3 {
		t.Fatalf("heartbeat over an adopted index: %v", err)
	}
	if err := w.Update(4, []Image{{Page: 20, Data: testImage(20, 4, 1, 512)}}, nil); err != nil {
		t.Fatal(err)
	}
	flipAt(t, path, int64(w.root.page*granule)+33)
	if _, err := r.Load(); !errors.Is(err, ErrNoSnapshot) || !errors.Is(err, corrupt.Err) {
		t.Fatalf("load of a damaged newest index: %v, want ErrNoSnapshot wrapping the corruption", err)
	}
	if err := r.CheckLag(r.Current()); err != nil {
		t.Fatalf("one tick behind: %v", err)
	}
	for tick := uint64(5); tick < 8; tick++ {
		if err := w.Heartbeat(tick, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.CheckLag(r.Current()); !errors.Is(err, ErrTooFarBehind) {
		t.Fatalf("snapshot of tick 3 with the writer at 7, max lag 3: %v", err)
	}
}

// TestEveryByteOfNewestTickChecked flips, one at a time, every byte of
// tick 2's header slot, root, branch and index pages in a real file: each
// time a new reader and recovery must fall back to tick 1 with its exact
// content, never load tick 2 with wrong bytes.
func TestEveryByteOfNewestTickChecked(t *testing.T) {
	path := mdPath(t)
	w, m1, _ := twoTicks(t, path)
	var ranges []extent // byte ranges: page holds the offset, n the length
	ranges = append(ranges, extent{uint64(w.slot * slotStride), HeaderSize})
	ranges = append(ranges, extent{w.root.page * granule, w.rootLen})
	for _, br := range w.branches {
		ranges = append(ranges, extent{br.at.page * granule, uint64(br.ref.Length)})
		for _, lf := range br.leaves {
			ranges = append(ranges, extent{lf.at.page * granule, uint64(lf.ref.Length)})
		}
	}
	if len(ranges) < 4 {
		t.Fatalf("tick 2 has only %d structures", len(ranges))
	}
	for _, rg := range ranges {
		for off := rg.page; off < rg.page+rg.n; off++ {
			flipAt(t, path, int64(off))
			r, err := Open(vfs.OS, path, ReaderOptions{Wait: 1, Retries: 1})
			if err != nil {
				t.Fatalf("byte %d flipped: %v", off, err)
			}
			if err := checkSnapshot(r, r.Current(), m1); err != nil || r.Current().Tick() != 1 {
				t.Fatalf("byte %d flipped: loaded tick %d: %v", off, r.Current().Tick(), err)
			}
			r.Close()
			rc, err := OpenForRecovery(vfs.OS, path, ReaderOptions{})
			if err != nil || rc.Snapshot.Tick() != 1 {
				t.Fatalf("byte %d flipped: recovery %v", off, err)
			}
			rc.Close()
			flipAt(t, path, int64(off)) // restore
		}
	}
}

// TestAbandonKeepsLastTick: a writer abandoned after a failure publishes
// nothing more; recovery finds its last tick, still open.
func TestAbandonKeepsLastTick(t *testing.T) {
	path := mdPath(t)
	w, _, m2 := twoTicks(t, path)
	w.Abandon()
	if err := w.Heartbeat(3, time.Now()); !errors.Is(err, ErrClosed) {
		t.Fatalf("heartbeat after abandon: %v", err)
	}
	rc, err := OpenForRecovery(vfs.OS, path, ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if rc.Snapshot.Tick() != 2 || rc.Snapshot.Header.Status != StatusOpen {
		t.Fatalf("after abandon: tick %d status %v", rc.Snapshot.Tick(), rc.Snapshot.Header.Status)
	}
	if err := checkSnapshot(rc.r, rc.Snapshot, m2); err != nil {
		t.Fatal(err)
	}
}
