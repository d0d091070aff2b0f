package coord

import (
	"context"
	"encoding/binary"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"pwstore/internal/infra/natsd"
	"pwstore/mdfile"
	"pwstore/vfs"
)

// natsConns starts an embedded server and opens n connections to it.
func natsConns(t *testing.T, n int) (*natsd.Server, []*nats.Conn) {
	t.Helper()
	srv, err := natsd.Start(natsd.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	var ncs []*nats.Conn
	for range n {
		nc, err := nats.Connect(srv.URL(), nats.MaxReconnects(0))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		ncs = append(ncs, nc)
	}
	return srv, ncs
}

// appender writes one int32 per step to /x and ends the tick.
type appender struct {
	t *testing.T
	w *Writer
	x *Dataset
	n uint64
}

func newAppender(t *testing.T, path string, cfg Config) *appender {
	t.Helper()
	w, err := Create(path, cfg)
	if err != nil {
		t.Fatal(err)
	}
	x, err := w.CreateDataset("/x", Spec{Type: Int32, Shape: []uint64{0}, MaxShape: []uint64{Unlimited}, Chunk: []uint64{16}})
	if err != nil {
		t.Fatal(err)
	}
	return &appender{t: t, w: w, x: x}
}

// step appends value n+1 and ends the tick; it returns the published tick.
func (a *appender) step() uint64 {
	a.t.Helper()
	if err := a.x.Extend(a.n + 1); err != nil {
		a.t.Fatal(err)
	}
	v := binary.LittleEndian.AppendUint32(nil, uint32(a.n+1))
	if err := a.x.WriteSlab([]uint64{a.n}, []uint64{1}, v); err != nil {
		a.t.Fatal(err)
	}
	a.n++
	if err := a.w.EndTick(); err != nil {
		a.t.Fatal(err)
	}
	return a.w.Stats().LastTick
}

// boundary grows the dataset to n rows and marks a step boundary.
func (a *appender) boundary(t *testing.T, n uint64) {
	t.Helper()
	if err := a.x.Extend(n); err != nil {
		t.Fatal(err)
	}
	if err := a.w.Sync(); err != nil {
		t.Fatal(err)
	}
}

// waitTickAfter waits up to limit for the writer to publish a tick after
// tick, failing the test with what was not published.
func (a *appender) waitTickAfter(t *testing.T, tick uint64, limit time.Duration, what string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for a.w.Stats().LastTick == tick {
		if time.Now().After(deadline) {
			t.Fatal(what + " was not published")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// abandon stops the writer's timer and lets the files go without a
// Close.
func (a *appender) abandon() {
	close(a.w.stop)
	<-a.w.stopped
	a.w.abandon()
}

// sees checks that r's snapshot holds exactly n steps, each right, and
// passes the snapshot checker.
func sees(t *testing.T, r *Reader, n uint64) {
	t.Helper()
	v, err := r.Dataset("/x")
	if err != nil {
		t.Fatal(err)
	}
	shape, err := v.Shape()
	if err != nil || shape[0] != n {
		t.Fatalf("reader sees shape %v (%v), want [%d]", shape, err, n)
	}
	buf := make([]byte, 4*n)
	if err := v.ReadSlab([]uint64{0}, []uint64{n}, buf); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if got := binary.LittleEndian.Uint32(buf[4*i:]); got != uint32(i+1) {
			t.Fatalf("element %d is %d, want %d", i, got, i+1)
		}
	}
	if err := r.Check(); err != nil {
		t.Fatalf("snapshot checker: %v", err)
	}
}

// TestAnnouncementsWakeReaders: a writer with a NATS connection announces
// every tick; a reader with manual ticks wakes on each (WaitTick with a
// minute's bound returns at once with news) and adopts it; a reader with
// automatic ticks an hour long adopts at its next call; a process that
// knows only the file finds the subject in the metadata file's header and
// hears the same ticks; the close is announced too.
func TestAnnouncementsWakeReaders(t *testing.T) {
	_, ncs := natsConns(t, 4)
	path := filepath.Join(t.TempDir(), "a.pw")
	a := newAppender(t, path, Config{ManualTicks: true, Announce: ncs[0], KeepMD: true})
	// Creating /x announced tick 1. A publication leaves the writer's
	// connection when its flusher runs, which on a loaded machine can be
	// after the subscriptions below: they would hear tick 1 after they
	// subscribed. Listeners are only promised what is published after they
	// subscribe, so let it reach the server first.
	if err := ncs[0].Flush(); err != nil {
		t.Fatal(err)
	}
	manual, err := OpenReader(path, Config{ManualTicks: true, Announce: ncs[1]})
	if err != nil {
		t.Fatal(err)
	}
	defer manual.Close()
	auto, err := OpenReader(path, Config{TickLen: time.Hour, Announce: ncs[2]})
	if err != nil {
		t.Fatal(err)
	}
	defer auto.Close()
	if !manual.Announced() || !auto.Announced() {
		t.Fatal("readers with a connection do not listen")
	}
	// Another job: only the file, no writer or reader handle.
	md, err := mdfile.Open(vfs.OS, path+".md", mdfile.ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	subject := AnnounceSubject(md.Current().Header.FileID)
	md.Close()
	heard, err := ncs[3].SubscribeSync(subject)
	if err != nil {
		t.Fatal(err)
	}
	if err := ncs[3].Flush(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for range 5 {
		before := time.Now()
		tick := a.step()
		if !manual.WaitTick(ctx, time.Minute) {
			t.Fatalf("no announcement of tick %d within a minute", tick)
		}
		got, at, ok := manual.Heard()
		if !ok || got != tick || at.Before(before) || at.After(time.Now()) {
			t.Fatalf("Heard: tick %d published %v (%v), want tick %d published after %v", got, at, ok, tick, before)
		}
		info, err := manual.Tick()
		if err != nil || info.Tick != tick {
			t.Fatalf("tick after the announcement: %+v %v, want tick %d", info, err, tick)
		}
		// The header is written before the tick is announced.
		if info.Published.Before(before) || info.Published.After(at) {
			t.Fatalf("tick %d published %v, want between the step's start %v and its announcement %v", tick, info.Published, before, at)
		}
		sees(t, manual, a.n)
		if !auto.WaitTick(ctx, time.Minute) {
			t.Fatalf("automatic reader: no announcement of tick %d", tick)
		}
		sees(t, auto, a.n) // its tick is an hour long: only the announcement moves it
		m, err := heard.NextMsg(time.Minute)
		if err != nil {
			t.Fatalf("subscriber by file identity: %v", err)
		}
		if got := binary.LittleEndian.Uint64(m.Data); got != tick {
			t.Fatalf("subscriber by file identity heard tick %d, want %d", got, tick)
		}
	}
	if manual.WaitTick(ctx, 10*time.Millisecond) {
		t.Fatal("WaitTick reports news with nothing new announced")
	}
	if err := a.w.Close(); err != nil {
		t.Fatal(err)
	}
	if !manual.WaitTick(ctx, time.Minute) {
		t.Fatal("the close was not announced")
	}
	info, err := manual.Tick()
	if err != nil || !info.Ended {
		t.Fatalf("tick after the close announcement: %+v %v", info, err)
	}
	sees(t, manual, a.n)
}

// TestWaitTickAfterFinalMove: a reader with manual ticks hears a closed
// writer's last announcements, then a read meets the finalised file and
// moves it to the final tick (a move inside a read, which no Tick has
// reported). WaitTick must still return at once - the next Tick reports
// the move and the end - rather than sleep its whole bound: a watcher that
// verified through the close slept its 100 ms fallback there (issue 18).
func TestWaitTickAfterFinalMove(t *testing.T) {
	_, ncs := natsConns(t, 2)
	path := filepath.Join(t.TempDir(), "f.pw")
	a := newAppender(t, path, Config{ManualTicks: true, Announce: ncs[0]})
	a.step()
	r, err := OpenReader(path, Config{ManualTicks: true, CachePages: 1, Announce: ncs[1]})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	sees(t, r, 1)
	opened := r.idx.tick()
	a.step()
	if err := a.w.Close(); err != nil {
		t.Fatal(err)
	}
	final := a.w.Stats().LastTick
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Millisecond) {
		if tick, _, ok := r.Heard(); ok && tick == final {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the close (tick %d) was not announced within a minute", final)
		}
	}
	sees(t, r, a.n) // one page cached: the read loads, meets the final mark, moves
	if r.Stats().Final != 1 {
		t.Fatalf("the read made %d moves to the final tick, want 1", r.Stats().Final)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if !r.WaitTick(ctx, time.Minute) {
		t.Fatal("WaitTick after a move to the final tick that no Tick reported: no news")
	}
	info, err := r.Tick()
	if err != nil || info.Tick != final || !info.Changed || !info.Ended {
		t.Fatalf("Tick after the move from tick %d: %+v %v, want tick %d changed and ended", opened, info, err, final)
	}
	if r.WaitTick(ctx, 10*time.Millisecond) {
		t.Fatal("news after the final tick was reported")
	}
}

// TestReadersCorrectWithoutAnnouncements: every announcement lost - the
// writer sends none, then the NATS server goes away under a writer and a
// reader that use it. The writer goes on; the reader's WaitTick returns
// after its bound, and the tick it adopts then is the newest, with every
// step right: a lost announcement costs at most one wait of latency.
func TestReadersCorrectWithoutAnnouncements(t *testing.T) {
	srv, ncs := natsConns(t, 3)
	ctx := context.Background()
	const wait = 20 * time.Millisecond

	// The writer announces nothing; the reader listens in vain.
	path := filepath.Join(t.TempDir(), "quiet.pw")
	a := newAppender(t, path, Config{ManualTicks: true})
	r, err := OpenReader(path, Config{ManualTicks: true, Announce: ncs[0]})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for range 3 {
		tick := a.step()
		if r.WaitTick(ctx, wait) {
			t.Fatal("news from a writer that announces nothing")
		}
		if info, err := r.Tick(); err != nil || info.Tick != tick {
			t.Fatalf("polled tick %+v %v, want %d", info, err, tick)
		}
		sees(t, r, a.n)
	}
	if err := a.w.Close(); err != nil {
		t.Fatal(err)
	}

	// Both use the server, which then stops.
	path = filepath.Join(t.TempDir(), "lost.pw")
	a = newAppender(t, path, Config{ManualTicks: true, Announce: ncs[1]})
	defer a.w.Close()
	r, err = OpenReader(path, Config{ManualTicks: true, Announce: ncs[2]})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	tick := a.step()
	if !r.WaitTick(ctx, time.Minute) {
		t.Fatal("no announcement while the server runs")
	}
	if info, err := r.Tick(); err != nil || info.Tick != tick {
		t.Fatalf("tick %+v %v, want %d", info, err, tick)
	}
	srv.Shutdown()
	for range 3 {
		tick := a.step()
		if r.WaitTick(ctx, wait) {
			t.Fatal("news without a server")
		}
		if info, err := r.Tick(); err != nil || info.Tick != tick {
			t.Fatalf("polled tick without a server %+v %v, want %d", info, err, tick)
		}
		sees(t, r, a.n)
	}
}

// TestSyncEndsTickAtStep: with automatic ticks a minute long, Sync ends
// the tick at once when the last end of tick is MinTickInterval ago, and
// a Sync sooner than that leaves the step to the timer, which publishes it
// once the interval is over - long before the tick would expire.
func TestSyncEndsTickAtStep(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.pw")
	a := newAppender(t, path, Config{TickLen: time.Minute, MinTickInterval: time.Second})
	defer a.abandon()
	time.Sleep(1100 * time.Millisecond)
	before := a.w.Stats().LastTick
	a.boundary(t, 1)
	first := a.w.Stats().LastTick
	if first != before+1 {
		t.Fatalf("Sync after the interval: tick %d, want %d", first, before+1)
	}
	a.boundary(t, 2) // within the interval of the last end of tick
	if got := a.w.Stats().LastTick; got != first {
		t.Fatalf("Sync within the interval ended the tick at once (tick %d after %d)", got, first)
	}
	a.waitTickAfter(t, first, 30*time.Second, "the step waiting for the interval") // far less than the minute-long tick
}

// TestSyncWaitsForPublicationCost: a step's end of tick is measured, and
// the next step waits until stepCostShare times that long after it started however short
// MinTickInterval is; the due timer then wakes the timer goroutine, which
// publishes the waiting step at once even though its ticker (a quarter of
// the minute-long tick) would not fire for 15 s - also while Stats, which
// only tries the writer's lock, is called all the time.
func TestSyncWaitsForPublicationCost(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.pw")
	a := newAppender(t, path, Config{TickLen: time.Minute, MinTickInterval: time.Millisecond})
	defer a.abandon()
	a.boundary(t, 1)
	// Past MinTickInterval and stepCostShare times what this end of tick
	// took (which a loaded machine can make longer than the interval).
	a.w.mu.Lock()
	wait := max(5*time.Millisecond, (stepCostShare+1)*a.w.stepCost)
	a.w.mu.Unlock()
	time.Sleep(wait)
	before := a.w.Stats().LastTick
	a.boundary(t, 2)
	first := a.w.Stats().LastTick
	a.w.mu.Lock()
	cost := a.w.stepCost
	a.w.stepCost = time.Second // as if that publication had taken a second
	a.w.mu.Unlock()
	if first != before+1 || cost <= 0 {
		t.Fatalf("Sync past the interval: tick %d after %d, cost %v; want the tick ended and its cost measured", first, before, cost)
	}
	time.Sleep(5 * time.Millisecond)
	a.boundary(t, 3)
	if got := a.w.Stats().LastTick; got != first {
		t.Fatalf("Sync 5 ms after an end of tick that took 1 s ended the tick at once (tick %d after %d)", got, first)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(done)
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
				a.w.Stats()
			}
		}
	})
	a.waitTickAfter(t, first, 10*time.Second, "the step waiting for the publication's cost") // well before the timer's own 15 s period
}

// TestReusedImageIsLag: a metadata page image that fails its checksum
// while the writer is max_lag ahead may be reused space: the read reports
// ErrLagging; with the writer not ahead it is corruption.
func TestReusedImageIsLag(t *testing.T) {
	path := filepath.Join(t.TempDir(), "l.pw")
	a := newAppender(t, path, Config{ManualTicks: true})
	defer a.w.Close()
	a.step()
	md, err := mdfile.Open(vfs.OS, path+".md", mdfile.ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer md.Close()
	es := md.Current().Entries()
	if len(es) == 0 {
		t.Fatal("no index entries")
	}
	e := es[0]
	e.Checksum++ // as if the image's space now held another page
	idx := newIndex()
	idx.reset(md.Current().Header, []mdfile.Entry{e})
	b := &snapshotBackend{md: md, idx: idx, lagCheck: func() error { return ErrLagging }}
	p := make([]byte, e.Length)
	if err := b.ReadPages(e.Page, p); !errors.Is(err, ErrLagging) {
		t.Fatalf("bad image with the writer ahead: %v, want ErrLagging", err)
	}
	b.lagCheck = func() error { return nil }
	if err := b.ReadPages(e.Page, p); err == nil || errors.Is(err, ErrLagging) {
		t.Fatalf("bad image with the writer not ahead: %v, want corruption", err)
	}
}
