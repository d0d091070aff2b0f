package mdfile

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"pwstore/internal/tool/golden"
	"pwstore/vfs"
)

// fakeClock advances by step at every reading: the writer's publication
// times, without sleeping.
type fakeClock struct {
	now  time.Time
	step time.Duration
}

func (c *fakeClock) read() time.Time {
	c.now = c.now.Add(c.step)
	return c.now
}

// TestLagWindowKeepsOldTick: with a lag window in time, a reader held on
// tick 1 while the writer publishes many times max_lag ticks within the
// window still reads tick 1's exact images (nothing it names was reused,
// though every tick rewrites pages), and every header says tick 1 is
// still allowed; once the window has passed, the next header drops it and
// the reader is too far behind.
func TestLagWindowKeepsOldTick(t *testing.T) {
	path := mdPath(t)
	w := mustCreate(t, vfs.OS, path, WriterOptions{PageSize: 512, MaxLag: 3, ReservedPages: 4, LeafPages: 1, KeepFor: time.Second})
	clk := &fakeClock{now: time.Unix(1_800_000_000, 0), step: time.Millisecond}
	w.clock = clk.read
	rng := rand.New(rand.NewPCG(7, 8))
	m := model{}
	changed, removed := randomTick(rng, m, 1, 512, 40)
	if err := w.Update(1, changed, removed); err != nil {
		t.Fatal(err)
	}
	m1 := m.clone()
	r := mustOpen(t, path)
	held := r.Current()
	size1 := w.Stats().FileSize
	for tick := uint64(2); tick <= 300; tick++ { // 299 ms of fake time: within the window
		changed, removed := randomTick(rng, m, tick, 512, 8)
		if err := w.Update(tick, changed, removed); err != nil {
			t.Fatal(err)
		}
		if err := r.CheckLag(held); err != nil {
			t.Fatalf("writer at tick %d, %v after tick 1: %v", tick, clk.now.Sub(time.Unix(1_800_000_000, 0)), err)
		}
		if o := w.Stats().Oldest; o != 1 {
			t.Fatalf("tick %d: oldest tick %d, want 1 (within the window)", tick, o)
		}
	}
	if err := checkSnapshot(r, held, m1); err != nil {
		t.Fatalf("reader held on tick 1 (299 ticks behind, max lag 3, within the window): %v", err)
	}
	if w.Stats().FileSize <= size1 {
		t.Fatal("the file did not grow while the window held 299 ticks of superseded images")
	}
	// The window passes: the next header drops every tick superseded
	// more than a second ago, and the ticks rule bounds the rest.
	clk.now = clk.now.Add(2 * time.Second)
	changed, removed = randomTick(rng, m, 301, 512, 8)
	if err := w.Update(301, changed, removed); err != nil {
		t.Fatal(err)
	}
	if o := w.Stats().Oldest; o != 299 {
		t.Fatalf("oldest tick %d after the window, want 299 (tick 301 - max lag 3 + 1)", o)
	}
	if err := r.CheckLag(held); !errors.Is(err, ErrTooFarBehind) {
		t.Fatalf("reader on tick 1 past the window: %v, want ErrTooFarBehind", err)
	}
	if err := r.CheckLag(mustOpen(t, path).Current()); err != nil {
		t.Fatalf("a reader of the newest tick: %v", err)
	}
}

// TestLagWindowOldestTick checks the oldest tick each header names: ticks
// every 10 ms, a 100 ms window and max_lag 3 keep the ticks superseded
// less than 100 ms ago (10 of them); with no window, max_lag - 1 ticks;
// a heartbeat is a tick like any other; and the oldest tick never moves
// back when the window grows.
func TestLagWindowOldestTick(t *testing.T) {
	for _, keep := range []time.Duration{0, 100 * time.Millisecond} {
		path := mdPath(t)
		w := mustCreate(t, vfs.OS, path, WriterOptions{PageSize: 512, MaxLag: 3, KeepFor: keep})
		clk := &fakeClock{now: time.Unix(1_800_000_000, 0), step: 10 * time.Millisecond}
		w.clock = clk.read
		for tick := uint64(1); tick <= 40; tick++ {
			var err error
			if tick%3 == 0 {
				err = w.Heartbeat(tick, time.Now())
			} else {
				err = w.Update(tick, []Image{{Page: tick % 5, Data: testImage(tick%5, tick, 1, 512)}}, nil)
			}
			if err != nil {
				t.Fatal(err)
			}
			// Tick r is superseded when r + 1 is published, at (r + 1) x 10 ms;
			// header T, at T x 10 ms, keeps r when that is after T x 10 - 100.
			want := oldestByTicks(tick, 3)
			if keep > 0 {
				want = max(1, min(want, tick-min(tick-1, 10)))
			}
			h, err := Newest(vfs.OS, path)
			if err != nil {
				t.Fatal(err)
			}
			if h.Version != headerVersion || h.OldestTick != want || w.Oldest() != want {
				t.Fatalf("window %v, tick %d: header version %d, oldest tick %d (writer %d), want %d", keep, tick, h.Version, h.OldestTick, w.Oldest(), want)
			}
		}
		before := w.Oldest()
		w.SetKeepFor(time.Hour)
		if err := w.Heartbeat(41, time.Now()); err != nil {
			t.Fatal(err)
		}
		if w.Oldest() < before {
			t.Fatalf("window %v: oldest tick moved back from %d to %d", keep, before, w.Oldest())
		}
		if err := w.Close(false); err != nil {
			t.Fatal(err)
		}
	}
}

// TestVersion3FileReadable: a metadata file a version 3 writer left (the
// golden file of that format) still loads, and its lag rule is the old
// one: a reader more than max_lag - 1 ticks behind the newest header is
// too far behind.
func TestVersion3FileReadable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v3.pw.md")
	if err := os.WriteFile(path, golden.Read(t, "metadata-v3.md"), 0o644); err != nil {
		t.Fatal(err)
	}
	hb := golden.Read(t, "header-v3.bin") // the newest slot of that file
	h3, err := DecodeHeader(hb)
	if err != nil {
		t.Fatal(err)
	}
	again := make([]byte, h3.Size())
	h3.Encode(again)
	if h3.Size() != len(hb) || !bytes.Equal(again, hb) {
		t.Fatal("version 3 header re-encodes differently")
	}
	r := mustOpen(t, path)
	snap := r.Current()
	if snap.Header != h3 {
		t.Fatalf("reader's header %+v, the golden slot's %+v", snap.Header, h3)
	}
	if snap.Header.Version != headerVersion3 || snap.Tick() != 2 || snap.Header.OldestTick != 1 || snap.Len() != goldenPages-1 {
		t.Fatalf("version 3 file: version %d, tick %d, oldest %d, %d entries", snap.Header.Version, snap.Tick(), snap.Header.OldestTick, snap.Len())
	}
	for _, e := range snap.Entries() {
		want := uint64(1)
		if e.Page == 2 || e.Page == 17 || e.Page == 39 {
			want = 2
		}
		buf := make([]byte, e.Length)
		if err := r.ReadImage(e, buf); err != nil {
			t.Fatal(err)
		}
		if got, err := imageTick(buf, e.Page); err != nil || got != want {
			t.Fatalf("page %d: image of tick %d (%v), want %d", e.Page, got, err, want)
		}
	}
	// A version 3 writer goes on with heartbeats (max_lag 3): tick 4 keeps
	// the reader on tick 2 (2 behind), tick 5 does not.
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := snap.Header
	for tick := uint64(3); tick <= 5; tick++ {
		h.Tick = tick
		b := make([]byte, h.Size())
		h.Encode(b)
		if _, err := f.WriteAt(b, int64((tick%2)*slotStride)); err != nil {
			t.Fatal(err)
		}
		err := r.CheckLag(snap)
		if tick <= 4 && err != nil {
			t.Fatalf("version 3 writer at tick %d, reader at 2, max lag 3: %v", tick, err)
		}
		if tick == 5 && !errors.Is(err, ErrTooFarBehind) {
			t.Fatalf("version 3 writer at tick 5, reader at 2, max lag 3: %v, want ErrTooFarBehind", err)
		}
	}
	if s, err := r.Load(); err != nil || s.Tick() != 5 || s.Header.Version != headerVersion3 {
		t.Fatalf("heartbeat of a version 3 writer: %v", err)
	}
}
