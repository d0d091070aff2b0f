package coord

import (
	"encoding/binary"
	"math"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"pwstore/collective"
	"pwstore/mdfile"
)

func TestAdoptMsgRoundTrip(t *testing.T) {
	m := adoptMsg{
		Base: 7, Header: mdfile.Header{Tick: 9, PageSize: 4096, Status: mdfile.StatusOpen},
		Added:   []mdfile.Entry{{Page: 1 << 40, Offset: 3 << 12, Length: 8192, Stored: 5000, Tail: 8, Checksum: 0xdeadbeefcafef00d}},
		Changed: []mdfile.Entry{{Page: 2, Offset: 5 << 5, Length: 4096, Stored: 139, Checksum: 1}, {Page: 9, Offset: 6 << 5, Length: 4096, Checksum: 2}},
		Removed: []uint64{4, 5},
	}
	b, err := m.encode(nil)
	if err != nil {
		t.Fatal(err)
	}
	var got adoptMsg
	if err := got.decode(b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Added, m.Added) || !reflect.DeepEqual(got.Changed, m.Changed) ||
		!reflect.DeepEqual(got.Removed, m.Removed) || got.Header.Tick != 9 || got.Base != 7 || len(got.Entries) != 0 {
		t.Fatalf("round trip changed the message:\n%+v\n%+v", m, got)
	}
	// The lists' room is reused; a shorter message leaves nothing behind.
	// Differences wrap around 2^64 both ways.
	top := uint64(math.MaxUint64)
	full := adoptMsg{Base: 9, Header: m.Header, Full: true, Err: "x", Code: 3, Entries: []mdfile.Entry{
		{Page: top, Offset: top, Length: top, Stored: top, Tail: top, Checksum: top}, {Page: 0, Offset: 1, Length: 1}, m.Changed[1]}}
	b, err = full.encode(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := got.decode(b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Entries, full.Entries) || len(got.Added)+len(got.Changed)+len(got.Removed) != 0 ||
		!got.Full || got.Err != "x" || got.Code != 3 {
		t.Fatalf("second message decoded as %+v, sent %+v", got, full)
	}
	// Bytes that do not add up are an error.
	for _, bad := range [][]byte{nil, {1, 0}, b[:len(b)-1], append(b[:len(b):len(b)], 0), binary.LittleEndian.AppendUint32(nil, 1<<31)} {
		if err := got.decode(bad); err == nil {
			t.Fatalf("%d bad bytes decoded", len(bad))
		}
	}
}

// FuzzAdoptMsg: whatever bytes arrive as a reader tick message, decoding
// fails cleanly (never panics) or gives a message that encodes to bytes
// that decode to it again.
func FuzzAdoptMsg(f *testing.F) {
	seed, _ := (&adoptMsg{Base: 1, Added: []mdfile.Entry{{Page: 1, Offset: 2048, Length: 4096, Stored: 7, Checksum: 3}}, Removed: []uint64{2}}).encode(nil)
	f.Add(seed)
	f.Fuzz(func(t *testing.T, b []byte) {
		var m adoptMsg
		if m.decode(b) != nil {
			return
		}
		again, err := m.encode(nil)
		if err != nil {
			t.Fatalf("decoded message does not encode: %v", err)
		}
		var m2 adoptMsg
		if err := m2.decode(again); err != nil || !reflect.DeepEqual(m.Header, m2.Header) || len(m.Added) != len(m2.Added) ||
			len(m.Removed) != len(m2.Removed) || len(m.Entries) != len(m2.Entries) || m.Err != m2.Err {
			t.Fatalf("re-encoded message decodes as %+v (%v), was %+v", m2, err, m)
		}
	})
}

// TestCollectiveTickNewest: reader rank 0 loads the snapshot before the
// other ranks' ticks are in; a tick the writer publishes after that load
// but before the last rank calls Tick is the one every rank adopts.
func TestCollectiveTickNewest(t *testing.T) {
	path := filepath.Join(t.TempDir(), "newest.pw")
	w, err := Create(path, Config{ManualTicks: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	d, err := w.CreateDataset("/x", Spec{Type: Int32, Shape: []uint64{0}, MaxShape: []uint64{Unlimited}, Chunk: []uint64{4}})
	if err != nil {
		t.Fatal(err)
	}
	grow := func() {
		t.Helper()
		shape, err := d.Shape()
		if err == nil {
			err = d.Extend(shape[0] + 1)
		}
		if err == nil {
			err = w.EndTick()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	grow()
	comms := collective.NewLocalWith(2, collective.LocalOptions{Timeout: 20 * time.Second})
	entered := make(chan struct{}, 1)
	comms[0] = &signalComm{Comm: comms[0], entered: entered}
	rs := make([]*Reader, 2)
	var wg sync.WaitGroup
	for rank, c := range comms {
		wg.Go(func() {
			var err error
			if rs[rank], err = OpenReader(path, Config{Comm: c, ManualTicks: true}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	defer func() {
		for _, r := range rs {
			r.Close()
		}
	}()
	for len(entered) > 0 {
		<-entered
	}
	grow()
	ticked := make(chan error, 1)
	go func() {
		_, err := rs[0].Tick()
		ticked <- err
	}()
	<-entered // rank 0 loaded the snapshot and waits for rank 1
	grow()
	want := w.Tick() - 1 // the tick just ended
	info, err := rs[1].Tick()
	if err != nil {
		t.Fatal(err)
	}
	if err := <-ticked; err != nil {
		t.Fatal(err)
	}
	if info.Tick != want {
		t.Fatalf("ranks adopted tick %d, want %d (published before rank 1 called Tick)", info.Tick, want)
	}
	t0, d0 := rs[0].IndexDigest()
	t1, d1 := rs[1].IndexDigest()
	if t0 != t1 || d0 != d1 {
		t.Fatalf("ranks hold different indexes: tick %d %x and tick %d %x", t0, d0, t1, d1)
	}
	if err := rs[0].VerifyIndex(); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkAdoptMsgDecode: a reader rank decoding a 1,000-entry delta of
// the colltick shape (every other page, images one after another).
func BenchmarkAdoptMsgDecode(b *testing.B) {
	m := adoptMsg{Base: 1, Header: mdfile.Header{Tick: 2, PageSize: 4096}}
	for i := range uint64(1000) {
		m.Changed = append(m.Changed, mdfile.Entry{Page: 4000 + 2*i, Offset: 1<<22 + 80*i, Length: 4096, Stored: 75, Checksum: i * 0x9e3779b97f4a7c15})
	}
	enc, err := m.encode(nil)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(enc)))
	var got adoptMsg
	for b.Loop() {
		if err := got.decode(enc); err != nil {
			b.Fatal(err)
		}
	}
}

// TestChangedCountsMovesBetweenTicks: TickInfo.Changed of Tick and of
// TickFull says the reader moved since the previous one of them, also when
// the move came in between (here an automatic tick inside a read; a move
// to the final tick during a read is the other such move): a watcher that
// skips unchanged ticks must not miss the contents it moved to.
func TestChangedCountsMovesBetweenTicks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "moves.pw")
	// No heartbeat ticks: the writer publishes only the ticks it ends.
	w, err := Create(path, Config{ManualTicks: true, TickLen: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	createSmall(t, w, "/a")
	if err := w.EndTick(); err != nil {
		t.Fatal(err)
	}
	const tickLen = 5 * time.Millisecond
	r, err := OpenReader(path, Config{TickLen: tickLen})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	d, err := w.Dataset("/a")
	if err != nil {
		t.Fatal(err)
	}
	for i, tick := range []func() (TickInfo, error){r.Tick, r.TickFull} {
		if err := d.SetAttr("n", IntValue(int64(i))); err != nil {
			t.Fatal(err)
		}
		if err := w.EndTick(); err != nil {
			t.Fatal(err)
		}
		want := w.Stats().LastTick
		time.Sleep(2 * tickLen)
		if _, err := r.Datasets(); err != nil { // ticks: it is due
			t.Fatal(err)
		}
		for _, changed := range []bool{true, false} {
			info, err := tick()
			if err != nil || info.Tick != want || info.Changed != changed {
				t.Fatalf("call %d: %+v, %v; want tick %d, changed %v", i, info, err, want, changed)
			}
		}
	}
}
