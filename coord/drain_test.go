package coord

import (
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// TestFlushDrainIsBounded: with hour-long ticks and the largest max lag,
// draining the delayed writes would wait for 1,000 hours; DrainWait
// bounds Flush's wait and the remaining ticks end back to back, leaving a
// file that verifies. (Close does not drain: TestCloseEndsOneTick.)
func TestFlushDrainIsBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "slow.pw")
	w, err := Create(path, Config{TickLen: time.Hour, MaxLag: MaxMaxLag, DrainWait: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	createSmall(t, w, "/a")
	if err := w.EndTick(); err != nil {
		t.Fatal(err)
	}
	createSmall(t, w, "/b")
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if ticks := w.Stats().Ticks; ticks < MaxMaxLag {
		t.Fatalf("flush ended %d ticks: the delayed writes cannot have drained", ticks)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := OpenReader(path, Config{ManualTicks: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Check(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/a", "/b"} {
		if err := checkSmall(r, p); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCloseEndsOneTick: with hour-long ticks and the largest max lag, and
// pages of a reopened file whose writes wait max_lag ticks, Close ends one
// tick (then marks the file finalising and closed: two more headers) and
// leaves a file that verifies, read by a reader that followed the writer
// and by one opened after.
func TestCloseEndsOneTick(t *testing.T) {
	path := filepath.Join(t.TempDir(), "slow.pw")
	smallFile(t, path)
	w, err := Open(path, Config{TickLen: time.Hour, MaxLag: MaxMaxLag})
	if err != nil {
		t.Fatal(err)
	}
	r, err := OpenReader(path, Config{ManualTicks: true, CachePages: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	a, err := w.Dataset("/a")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.SetAttr("x", IntValue(1)); err != nil {
		t.Fatal(err)
	}
	createSmall(t, w, "/b")
	if err := w.EndTick(); err != nil {
		t.Fatal(err)
	}
	before, last := w.Stats().Ticks, w.Stats().LastTick
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	st := w.Stats()
	if st.Ticks != before+1 || st.Pagebuf.DelayedWrites == 0 {
		t.Fatalf("close ended %d ticks (%d delayed writes), want 1 and some", st.Ticks-before, st.Pagebuf.DelayedWrites)
	}
	info, err := r.Tick()
	if err != nil || !info.Ended || info.Tick != last+3 {
		t.Fatalf("reader after close: %+v, %v; want ended at tick %d (last, finalising, closed)", info, err, last+3)
	}
	after, err := OpenReader(path, Config{ManualTicks: true})
	if err != nil {
		t.Fatal(err)
	}
	defer after.Close()
	for i, rd := range []*Reader{r, after} {
		if err := rd.Check(); err != nil {
			t.Fatalf("reader %d: %v", i, err)
		}
		for _, p := range []string{"/a", "/b"} {
			if err := checkSmall(rd, p); err != nil {
				t.Fatalf("reader %d: %v", i, err)
			}
		}
	}
}

// TestMaxLagBounded: a max lag above MaxMaxLag is a configuration error
// and creates nothing.
func TestMaxLagBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lag.pw")
	_, err := Create(path, Config{ManualTicks: true, MaxLag: MaxMaxLag + 1})
	if !errors.Is(err, ErrConfig) {
		t.Fatalf("max lag %d: %v, want ErrConfig", MaxMaxLag+1, err)
	}
	if _, err := OpenReader(path, Config{MaxLag: 100000000}); !errors.Is(err, ErrConfig) {
		t.Fatalf("reader with max lag 100000000: %v, want ErrConfig", err)
	}
	w, err := Create(path, Config{ManualTicks: true, MaxLag: MaxMaxLag})
	if err != nil {
		t.Fatalf("max lag %d refused: %v", MaxMaxLag, err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}
