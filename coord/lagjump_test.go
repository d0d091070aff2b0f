package coord

import (
	"path/filepath"
	"testing"
)

// TestTickAfterFallingBehind: a reader that read a snapshot and then sat
// on it while the writer changed a page, wrote it back to the data file and
// dropped it from the metadata file's index (max_lag ticks later), ticks:
// neither index lists the page, and the reader must not keep its older
// image - the new snapshot holds the new step. Without a read in between
// nothing told the reader it had fallen behind.
func TestTickAfterFallingBehind(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.pw")
	a := newAppender(t, path, Config{ManualTicks: true, MaxLag: 4})
	defer a.w.Close()
	idle := func() {
		t.Helper()
		for range 10 { // past max_lag: every page written back and out of the index
			if err := a.w.EndTick(); err != nil {
				t.Fatal(err)
			}
		}
	}
	a.step()
	idle()
	r, err := OpenReader(path, Config{ManualTicks: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	sees(t, r, 1)
	a.step()
	idle()
	info, err := r.Tick()
	if err != nil || info.Tick != a.w.Stats().LastTick {
		t.Fatalf("tick %+v %v, want tick %d", info, err, a.w.Stats().LastTick)
	}
	sees(t, r, a.n)
}
