package mdfile

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"pwstore/internal/storage/corrupt"
	"pwstore/vfs"
)

func TestWriterReaderRoundTrip(t *testing.T) {
	for _, ps := range []int{512, 4096} {
		path := mdPath(t)
		w := mustCreate(t, vfs.OS, path, WriterOptions{PageSize: ps, MaxLag: 4, ReservedPages: 8, LeafPages: 1})
		rng := rand.New(rand.NewPCG(1, uint64(ps)))
		m := model{}
		changed, removed := randomTick(rng, m, 1, ps, 30)
		if err := w.Update(1, changed, removed); err != nil {
			t.Fatal(err)
		}
		r := mustOpen(t, path)
		for tick := uint64(2); tick <= 200; tick++ {
			changed, removed := randomTick(rng, m, tick, ps, 30)
			if err := w.Update(tick, changed, removed); err != nil {
				t.Fatalf("update %d: %v", tick, err)
			}
			snap, err := r.Load()
			if err != nil {
				t.Fatalf("load %d: %v", tick, err)
			}
			if snap.Tick() != tick {
				t.Fatalf("loaded tick %d, want %d", snap.Tick(), tick)
			}
			if snap.Len() != len(m) {
				t.Fatalf("tick %d: %d entries, want %d", tick, snap.Len(), len(m))
			}
			if tick%8 == 0 {
				if err := checkSnapshot(r, snap, m); err != nil {
					t.Fatal(err)
				}
			}
			for page, v := range m {
				if e, ok := w.Find(page); !ok || e.Length != uint64(v.npages*ps) {
					t.Fatalf("writer Find(%d) = %v, %v", page, e, ok)
				}
			}
		}
		st := w.Stats()
		if st.Entries != len(m) || st.Leaves < 2 || ps == 512 && st.Branches < 2 {
			t.Fatalf("stats %+v: want %d entries in several index and branch pages", st, len(m))
		}
		if err := w.Close(false); err != nil {
			t.Fatal(err)
		}
	}
}

func TestHeartbeatKeepsIndex(t *testing.T) {
	path := mdPath(t)
	w := mustCreate(t, vfs.OS, path, WriterOptions{PageSize: 512, LeafPages: 1})
	m := model{}
	rng := rand.New(rand.NewPCG(2, 2))
	changed, _ := randomTick(rng, m, 1, 512, 100)
	if err := w.Update(1, changed, nil); err != nil {
		t.Fatal(err)
	}
	r := mustOpen(t, path)
	first := r.Current()
	before := w.Stats().BytesWritten
	beat := time.Unix(1700000000, 42)
	if err := w.Heartbeat(2, beat); err != nil {
		t.Fatal(err)
	}
	if got := w.Stats().BytesWritten - before; got != HeaderSize {
		t.Fatalf("heartbeat wrote %d bytes, want one header (%d)", got, HeaderSize)
	}
	snap, err := r.Load()
	if err != nil {
		t.Fatal(err)
	}
	if snap.Tick() != 2 || snap.Header.IndexTick != 1 || !snap.Header.Heartbeat.Equal(beat) {
		t.Fatalf("after heartbeat: tick %d index tick %d heartbeat %v", snap.Tick(), snap.Header.IndexTick, snap.Header.Heartbeat)
	}
	if len(snap.branches) == 0 || snap.branches[0] != first.branches[0] {
		t.Fatalf("heartbeat snapshot does not share the index pages")
	}
	if d := Diff(first, snap); len(d.Added)+len(d.Changed)+len(d.Removed) != 0 {
		t.Fatalf("heartbeat diff %+v", d)
	}
	if again, _ := r.Load(); again != snap {
		t.Fatalf("unchanged tick did not return the same snapshot")
	}
	if err := w.Heartbeat(2, beat); !errors.Is(err, ErrTickOrder) {
		t.Fatalf("repeated tick: %v", err)
	}
}

func TestDiff(t *testing.T) {
	path := mdPath(t)
	w := mustCreate(t, vfs.OS, path, WriterOptions{PageSize: 512, LeafPages: 1})
	var changed []Image
	for p := range uint64(300) {
		changed = append(changed, Image{Page: p * 2, Data: testImage(p*2, 1, 1, 512)})
	}
	if err := w.Update(1, changed, nil); err != nil {
		t.Fatal(err)
	}
	r := mustOpen(t, path)
	old := r.Current()
	err := w.Update(2, []Image{
		{Page: 10, Data: testImage(10, 2, 1, 512)},   // changed
		{Page: 11, Data: testImage(11, 2, 1, 512)},   // added
		{Page: 999, Data: testImage(999, 2, 1, 512)}, // added at the end
	}, []uint64{500, 0})
	if err != nil {
		t.Fatal(err)
	}
	cur, err := r.Load()
	if err != nil {
		t.Fatal(err)
	}
	d := Diff(old, cur)
	if len(d.Changed) != 1 || d.Changed[0].Page != 10 || len(d.Added) != 2 || d.Added[0].Page != 11 || d.Added[1].Page != 999 ||
		len(d.Removed) != 2 || d.Removed[0] != 0 || d.Removed[1] != 500 {
		t.Fatalf("diff %+v", d)
	}
	if d := Diff(nil, cur); len(d.Added) != cur.Len() {
		t.Fatalf("diff from nothing adds %d, want %d", len(d.Added), cur.Len())
	}
}

func TestBadUpdatesLeaveWriterUsable(t *testing.T) {
	path := mdPath(t)
	w := mustCreate(t, vfs.OS, path, WriterOptions{PageSize: 512})
	if err := w.Update(1, []Image{{Page: 4, Data: testImage(4, 1, 2, 512)}}, nil); err != nil {
		t.Fatal(err)
	}
	used := w.space.end()
	bad := []struct {
		name    string
		changed []Image
		removed []uint64
	}{
		{"partial page", []Image{{Page: 1, Data: make([]byte, 100)}}, nil},
		{"empty image", []Image{{Page: 1}}, nil},
		{"twice", []Image{{Page: 1, Data: make([]byte, 512)}, {Page: 1, Data: make([]byte, 512)}}, nil},
		{"changed and removed", []Image{{Page: 4, Data: make([]byte, 512)}}, []uint64{4}},
		{"remove missing", nil, []uint64{7}},
		{"overlaps next", []Image{{Page: 3, Data: make([]byte, 1024)}}, nil},
		{"overlapped by previous", []Image{{Page: 5, Data: make([]byte, 512)}}, nil},
	}
	for _, c := range bad {
		if err := w.Update(2, c.changed, c.removed); !errors.Is(err, ErrBadUpdate) {
			t.Fatalf("%s: err %v, want ErrBadUpdate", c.name, err)
		}
		if w.space.end() != used {
			t.Fatalf("%s: rejected update leaked space", c.name)
		}
	}
	if err := w.Update(2, []Image{{Page: 6, Data: testImage(6, 2, 1, 512)}}, nil); err != nil {
		t.Fatalf("writer unusable after bad updates: %v", err)
	}
	r := mustOpen(t, path)
	if err := checkSnapshot(r, r.Current(), model{4: {1, 2}, 6: {2, 1}}); err != nil {
		t.Fatal(err)
	}
}

func TestCreateRefusesExisting(t *testing.T) {
	path := mdPath(t)
	w := mustCreate(t, vfs.OS, path, WriterOptions{})
	if err := w.Update(1, nil, nil); err != nil {
		t.Fatal(err)
	}
	r := mustOpen(t, path)
	if s := r.Current(); s.Tick() != 1 || s.Len() != 0 || s.Header.RootLength != 0 {
		t.Fatalf("empty first tick: %+v", s.Header)
	}
	if _, err := Create(vfs.OS, path, WriterOptions{}); !errors.Is(err, ErrExists) {
		t.Fatalf("second create: %v, want ErrExists", err)
	}
	w2, err := Create(vfs.OS, path, WriterOptions{Takeover: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(vfs.OS, path, ReaderOptions{Wait: time.Millisecond}); !errors.Is(err, ErrNotReady) {
		t.Fatalf("open after takeover, before the first tick: %v, want ErrNotReady", err)
	}
	if err := w2.Close(false); err != nil {
		t.Fatal(err)
	}
	if _, err := vfs.OS.Stat(path); err == nil {
		t.Fatalf("Close(false) left the file")
	}
}

func TestCloseKeepPublishesClosed(t *testing.T) {
	path := mdPath(t)
	id := [16]byte{1, 2, 3}
	w := mustCreate(t, vfs.OS, path, WriterOptions{FileID: id, PageSize: 1024})
	if err := w.Update(1, []Image{{Page: 9, Data: testImage(9, 1, 1, 1024)}}, nil); err != nil {
		t.Fatal(err)
	}
	r, err := Open(vfs.OS, path, ReaderOptions{FileID: id})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := w.Close(true); err != nil {
		t.Fatal(err)
	}
	snap, err := r.Load()
	if err != nil {
		t.Fatal(err)
	}
	if snap.Header.Status != StatusClosed || snap.Len() != 0 || snap.Tick() != 2 || snap.Header.FileID != id {
		t.Fatalf("after close: %+v", snap.Header)
	}
	if _, err := Open(vfs.OS, path, ReaderOptions{FileID: [16]byte{9}}); !errors.Is(err, ErrWrongFile) {
		t.Fatalf("open with another file id: %v", err)
	}
}

func TestOpenMissingIsNotReady(t *testing.T) {
	if _, err := Open(vfs.OS, mdPath(t), ReaderOptions{Wait: 5 * time.Millisecond}); !errors.Is(err, ErrNotReady) {
		t.Fatalf("open of a missing file: %v", err)
	}
	path := mdPath(t)
	w := mustCreate(t, vfs.OS, path, WriterOptions{})
	defer w.Close(false)
	if _, err := Open(vfs.OS, path, ReaderOptions{Wait: 5 * time.Millisecond}); !errors.Is(err, ErrNotReady) {
		t.Fatalf("open of an unpublished file: %v", err)
	}
	// A header half written: still not ready, not corruption.
	h := sampleHeader()
	b := make([]byte, HeaderSize)
	h.Encode(b)
	f, err := vfs.OS.OpenRW(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b[:60], 0); err != nil {
		t.Fatal(err)
	}
	_, err = Open(vfs.OS, path, ReaderOptions{Wait: 5 * time.Millisecond})
	if !errors.Is(err, ErrNotReady) || errors.Is(err, corrupt.Err) {
		t.Fatalf("open of a half-written header: %v, want ErrNotReady only", err)
	}
}
