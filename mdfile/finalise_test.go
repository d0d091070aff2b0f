package mdfile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"pwstore/internal/tool/golden"
	"pwstore/vfs"
)

// TestGoldenFinalising pins the finalising header: the golden writer's two
// ticks, then Finalise: tick 3, status 4, the index of tick 2.
func TestGoldenFinalising(t *testing.T) {
	path := filepath.Join(t.TempDir(), "golden.pw.md")
	now := time.Unix(1_800_000_000, 0)
	w := mustCreate(t, vfs.OS, path, WriterOptions{
		PageSize: goldenPS, MaxLag: 3, FileID: goldenID, LeafPages: 1, Now: func() time.Time { return now },
	})
	for i, u := range goldenTicks() {
		if err := w.Update(uint64(i+1), u[0].([]Image), u[1].([]uint64)); err != nil {
			t.Fatal(err)
		}
	}
	before := w.Stats().BytesWritten
	if err := w.Finalise(now); err != nil {
		t.Fatal(err)
	}
	if got := w.Stats().BytesWritten - before; got != HeaderSize {
		t.Fatalf("Finalise wrote %d bytes, want one header (%d)", got, HeaderSize)
	}
	w.Abandon()
	img, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	slot := img[0:HeaderSize] // tick 1 in slot 0, tick 2 in slot 1, tick 3 in slot 0
	golden.Bytes(t, "header-finalising.bin", slot)
	h, err := DecodeHeader(slot)
	if err != nil {
		t.Fatal(err)
	}
	r := mustOpen(t, path)
	snap := r.Current()
	if h.Status != StatusFinalising || h.Tick != 3 || snap.Tick() != 3 || snap.Header.IndexTick != 2 || snap.Len() != goldenPages-1 {
		t.Fatalf("finalising header %+v, snapshot at tick %d with %d entries", h, snap.Tick(), snap.Len())
	}
}

// TestFinaliseThenClose: Finalise publishes the same index under status
// finalising; a reader's WriterHeader sees it; only Close may follow, and
// it publishes closed with an empty index one tick later.
func TestFinaliseThenClose(t *testing.T) {
	path := mdPath(t)
	id := [16]byte{4, 5, 6}
	w := mustCreate(t, vfs.OS, path, WriterOptions{FileID: id, PageSize: 1024})
	if err := w.Finalise(time.Now()); !errors.Is(err, ErrTickOrder) {
		t.Fatalf("Finalise before the first tick: %v", err)
	}
	if err := w.Update(1, []Image{{Page: 9, Data: testImage(9, 1, 1, 1024)}}, nil); err != nil {
		t.Fatal(err)
	}
	r, err := Open(vfs.OS, path, ReaderOptions{FileID: id})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := w.Finalise(time.Now()); err != nil {
		t.Fatal(err)
	}
	h, err := r.WriterHeader()
	if err != nil || h.Status != StatusFinalising || h.Tick != 2 || !h.Status.Live() {
		t.Fatalf("writer header after Finalise: %+v, %v", h, err)
	}
	if r.Current().Tick() != 1 {
		t.Fatalf("WriterHeader moved the reader to tick %d", r.Current().Tick())
	}
	snap, err := r.Load()
	if err != nil || snap.Tick() != 2 || snap.Len() != 1 {
		t.Fatalf("load after Finalise: %v, %v", snap, err)
	}
	if err := w.Update(3, nil, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Update after Finalise: %v", err)
	}
	if err := w.Heartbeat(3, time.Now()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Heartbeat after Finalise: %v", err)
	}
	if err := w.Finalise(time.Now()); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Finalise: %v", err)
	}
	if err := w.Close(true); err != nil {
		t.Fatal(err)
	}
	snap, err = r.Load()
	if err != nil || snap.Header.Status != StatusClosed || snap.Tick() != 3 || snap.Len() != 0 || snap.Header.Status.Live() {
		t.Fatalf("after close: %+v, %v", snap, err)
	}
}

// TestRecoverFinalising: a writer that dies after Finalise leaves a file
// recovery takes at the finalising tick, with its whole index.
func TestRecoverFinalising(t *testing.T) {
	path := mdPath(t)
	w := mustCreate(t, vfs.OS, path, WriterOptions{PageSize: 512, MaxLag: 3})
	var imgs []Image
	for p := uint64(1); p <= 20; p++ {
		imgs = append(imgs, Image{Page: p, Data: testImage(p, 1, 1, 512)})
	}
	if err := w.Update(1, imgs, nil); err != nil {
		t.Fatal(err)
	}
	if err := w.Finalise(time.Now()); err != nil {
		t.Fatal(err)
	}
	w.Abandon()
	rc, err := OpenForRecovery(vfs.OS, path, ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if h := rc.Snapshot.Header; h.Status != StatusFinalising || h.Tick != 2 || rc.Snapshot.Len() != 20 {
		t.Fatalf("recovered %+v with %d entries", h, rc.Snapshot.Len())
	}
	if err := rc.MarkFinalising(); err != nil {
		t.Fatal(err)
	}
	if h, err := Newest(vfs.OS, path); err != nil || h.Tick != 2 {
		t.Fatalf("a second finalising mark was written: %+v, %v", h, err)
	}
	if err := rc.MarkConsumed(); err != nil {
		t.Fatal(err)
	}
	h, err := Newest(vfs.OS, path)
	if err != nil || h.Status != StatusConsumed || h.Tick != 3 {
		t.Fatalf("after MarkConsumed: %+v, %v", h, err)
	}
}

// TestRecoveryMarksFinalising: recovery of an open file publishes, before
// it writes anything into the data file, the recovered index again under
// status finalising, then consumed after it.
func TestRecoveryMarksFinalising(t *testing.T) {
	path := mdPath(t)
	w := mustCreate(t, vfs.OS, path, WriterOptions{PageSize: 512, MaxLag: 3})
	if err := w.Update(1, []Image{{Page: 3, Data: testImage(3, 1, 1, 512)}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := w.Update(2, []Image{{Page: 4, Data: testImage(4, 2, 1, 512)}}, nil); err != nil {
		t.Fatal(err)
	}
	w.Abandon()
	r := mustOpen(t, path)
	defer r.Close()
	rc, err := OpenForRecovery(vfs.OS, path, ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if err := rc.MarkFinalising(); err != nil {
		t.Fatal(err)
	}
	h, err := r.WriterHeader()
	if err != nil || h.Status != StatusFinalising || h.Tick != 3 || h.IndexTick != 2 || h.Entries != 2 {
		t.Fatalf("after MarkFinalising: %+v, %v", h, err)
	}
	if err := rc.MarkConsumed(); err != nil {
		t.Fatal(err)
	}
	if h, err = r.WriterHeader(); err != nil || h.Status != StatusConsumed || h.Tick != 4 {
		t.Fatalf("after MarkConsumed: %+v, %v", h, err)
	}
}
