package pagebuf

import (
	"bytes"
	"testing"
)

// A page read from the data file, changed and published must not reach the
// data file before max_lag ticks, even when the buffer holds 1 or 2 pages and
// is flooded with other reads and writes every tick. A lagging reader that
// reads it from the data file would otherwise see a message from the future.
func TestMessageFromTheFuture(t *testing.T) {
	const lag = 4
	for _, capacity := range []int{1, 2} {
		fb := newFileBackend(t, ps)
		for p := uint64(0); p < 50; p++ {
			if err := fb.WritePages(p, img(ps, p, 1, 0)); err != nil {
				t.Fatal(err)
			}
		}
		onDisk := func(p uint64) []byte {
			got := make([]byte, ps)
			if err := fb.ReadPages(p, got); err != nil {
				t.Fatal(err)
			}
			return got
		}
		b := writer(t, lag, capacity, fb)
		const target = 7
		mustRead(t, b, target, 1)
		mustWrite(t, b, target, img(ps, target, 1, 1), false)
		next := uint64(100)
		for tick := uint64(1); tick <= lag; tick++ {
			// Pressure: reads of other pages, fresh writes, flushes.
			for i := uint64(0); i < 20; i++ {
				mustRead(t, b, (tick*20+i)%50+50*(i%2), 1)
				if i%5 == 0 {
					mustWrite(t, b, next, img(ps, next, 1, 1), true)
					next++
				}
				if _, err := b.Flush(); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(onDisk(target), img(ps, target, 1, 0)) {
					t.Fatalf("capacity %d, tick %d: changed page reached the data file early", capacity, tick)
				}
			}
			if tick < lag {
				if _, err := b.EndTick(tick); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(onDisk(target), img(ps, target, 1, 0)) {
					t.Fatalf("capacity %d: changed page written at end of tick %d", capacity, tick)
				}
			}
		}
		if _, err := b.EndTick(lag); err != nil {
			t.Fatal(err)
		}
		loads := b.Stats().Loads
		if got := mustRead(t, b, target, 1); !bytes.Equal(got, img(ps, target, 1, 1)) {
			t.Fatal("buffer lost the change")
		}
		if b.Stats().Loads != loads {
			t.Fatal("the delayed page was evicted while dirty")
		}
		// Tick 1 + lag: now it may go.
		if pending, err := b.Flush(); err != nil || pending != 0 {
			t.Fatalf("flush at tick %d: %d %v", lag+1, pending, err)
		}
		if !bytes.Equal(onDisk(target), img(ps, target, 1, 1)) {
			t.Fatalf("capacity %d: change not written once allowed", capacity)
		}
		if st := b.Stats(); st.OverCapacity == 0 || st.Evictions == 0 {
			t.Fatalf("capacity %d: no memory pressure happened: %+v", capacity, st)
		}
	}
}
