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
