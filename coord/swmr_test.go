package coord

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"pwstore/internal/tool/workload"
)

// writeClosed makes a closed file of the given workload with steps steps.
func writeClosed(t *testing.T, path string, p workload.Params, steps int) []workload.Dataset {
	t.Helper()
	w, err := Create(path, Config{ManualTicks: true})
	if err != nil {
		t.Fatal(err)
	}
	layout := p.Layout(1)
	for _, d := range layout {
		ds, err := w.CreateDataset(d.Path, specOf(d))
		if err != nil {
			t.Fatal(err)
		}
		for s := range uint64(steps) {
			appendStep(t, ds, d, s)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return layout
}

// appendStep extends d by one step and writes the step's values.
func appendStep(t *testing.T, ds *Dataset, d workload.Dataset, s uint64) {
	t.Helper()
	sl, _ := d.RankSlab(s, 0, 1)
	if err := ds.Extend(sl.Start[0] + sl.Count[0]); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, sl.Elems()*uint64(d.DType.Size()))
	d.FillSlab(buf, s, sl)
	if err := ds.WriteSlab(sl.Start, sl.Count, buf); err != nil {
		t.Fatal(err)
	}
	if err := ds.SetAttr("steps", IntValue(int64(s+1))); err != nil {
		t.Fatal(err)
	}
}

// TestMessageFromTheFuture opens an existing file for SWMR writing - its
// pages are in the data file, outside any index - and modifies them every
// tick under memory pressure, while a reader with a one-page buffer stays
// exactly max_lag - 1 ticks behind before each catch-up. Every read the
// reader makes must match the state of the tick it adopted: a page written
// back to the data file too early would show it a later state.
func TestMessageFromTheFuture(t *testing.T) {
	const maxLag = 4
	path := filepath.Join(t.TempDir(), "old.pw")
	p := workload.Params{Kind: workload.RR, Datasets: 6, Elems: 5}.Defaults()
	layout := writeClosed(t, path, p, 3)

	stepsAt := map[uint64]uint64{} // published tick -> steps every dataset has
	steps := uint64(3)
	w, err := Open(path, Config{ManualTicks: true, MaxLag: maxLag, CachePages: 2,
		OnPublish: func(pi PublishInfo) { stepsAt[pi.Tick] = steps }})
	if err != nil {
		t.Fatal(err)
	}
	r, err := OpenReader(path, Config{ManualTicks: true, CachePages: 1})
	if err != nil {
		t.Fatal(err)
	}
	ds := make([]*Dataset, len(layout))
	for i, d := range layout {
		if ds[i], err = w.Dataset(d.Path); err != nil {
			t.Fatal(err)
		}
	}
	for round := range 40 {
		for i, d := range layout {
			appendStep(t, ds[i], d, steps)
		}
		steps++
		if err := w.EndTick(); err != nil {
			t.Fatal(err)
		}
		lag, err := r.Lag()
		if err != nil {
			t.Fatal(err)
		}
		if lag > maxLag-1 {
			t.Fatalf("round %d: reader lags %d ticks", round, lag)
		}
		// Read everything at the adopted tick, lagging as far as allowed.
		tick := r.idx.tick()
		want, ok := stepsAt[tick]
		if !ok {
			t.Fatalf("round %d: reader at tick %d that the writer never published", round, tick)
		}
		checkExact(t, r, layout, want, fmt.Sprintf("round %d, reader at tick %d lagging %d", round, tick, lag))
		if lag == maxLag-1 {
			if _, err := r.Tick(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if st := w.Stats().Pagebuf; st.DelayedWrites == 0 {
		t.Fatalf("no write was delayed: the test did not exercise the rule (%+v)", st)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r.Close()
}

// checkExact checks that every dataset has exactly steps steps, all with
// the workload's values, and the steps attribute to match.
func checkExact(t *testing.T, r *Reader, layout []workload.Dataset, steps uint64, where string) {
	t.Helper()
	for _, d := range layout {
		v, err := r.Dataset(d.Path)
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		shape, err := v.Shape()
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		if shape[0] != steps*d.Rows {
			t.Fatalf("%s: %s has %d rows, the snapshot had %d", where, d.Path, shape[0], steps*d.Rows)
		}
		val, ok, err := v.Attr("steps")
		n, _ := val.Int()
		if err != nil || !ok || uint64(n) != steps {
			t.Fatalf("%s: %s steps attribute %d (%v, %v), want %d", where, d.Path, n, ok, err, steps)
		}
		for s := range steps {
			sl, _ := d.RankSlab(s, 0, 1)
			buf := make([]byte, sl.Elems()*uint64(d.DType.Size()))
			if err := v.ReadSlab(sl.Start, sl.Count, buf); err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			if err := d.CheckSlab(buf, s, sl); err != nil {
				t.Fatalf("%s: %v", where, err)
			}
		}
	}
}

// TestDatasetsAppear: datasets created while a reader reads show up at
// its next tick, and never before.
func TestDatasetsAppear(t *testing.T) {
	path := filepath.Join(t.TempDir(), "grow.pw")
	w, err := Create(path, Config{ManualTicks: true})
	if err != nil {
		t.Fatal(err)
	}
	r, err := OpenReader(path, Config{ManualTicks: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		name := fmt.Sprintf("/g%d/d%04d", i%7, i)
		if _, err := w.CreateDataset(name, Spec{Type: Int64, Shape: []uint64{4}, Chunk: []uint64{4}}); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Dataset(name); !errors.Is(err, ErrNotFound) {
			t.Fatalf("%s visible before the tick that publishes it: %v", name, err)
		}
		if i%10 == 9 {
			if err := w.EndTick(); err != nil {
				t.Fatal(err)
			}
			if _, err := r.Tick(); err != nil {
				t.Fatal(err)
			}
			infos, err := r.Datasets()
			if err != nil {
				t.Fatal(err)
			}
			if len(infos) != i+1 {
				t.Fatalf("after %d creations the reader lists %d datasets", i+1, len(infos))
			}
		}
	}
	if err := r.Check(); err != nil {
		t.Fatal(err)
	}
	r.Close()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestBadInput: each bad input is one clear error, and nothing panics.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.pw"), filepath.Join(dir, "b.pw")
	for _, bad := range []Config{{}, {ManualTicks: true, MaxLag: 2}, {ManualTicks: true, PageSize: 1000},
		{ManualTicks: true, PageSize: 256}, {TickLen: -1}, {ManualTicks: true, MDPath: a}} {
		if _, err := Create(a, bad); !errors.Is(err, ErrConfig) {
			t.Errorf("Create with %+v: %v, want ErrConfig", bad, err)
		}
	}
	if _, err := OpenReader(filepath.Join(dir, "missing.pw"), Config{}); !errors.Is(err, ErrNotReady) {
		t.Errorf("reader of a missing file: %v, want ErrNotReady", err)
	}
	if _, err := Open(filepath.Join(dir, "missing.pw"), Config{TickLen: DefaultTickLen}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("writer of a missing file: %v, want not exist", err)
	}
	// Two live writers' files; the reader is pointed at a's data with b's
	// metadata file.
	wa, err := Create(a, Config{ManualTicks: true})
	if err != nil {
		t.Fatal(err)
	}
	defer wa.Close()
	wb, err := Create(b, Config{ManualTicks: true})
	if err != nil {
		t.Fatal(err)
	}
	defer wb.Close()
	if _, err := OpenReader(a, Config{MDPath: b + ".md"}); !errors.Is(err, ErrWrongFile) {
		t.Errorf("reader with another file's metadata file: %v, want ErrWrongFile", err)
	}
	// A second writer on a live file.
	if _, err := Create(a, Config{TickLen: DefaultTickLen}); !errors.Is(err, ErrNeedsRecovery) {
		t.Errorf("second writer: %v, want ErrNeedsRecovery", err)
	}
	// Not our file.
	junk := filepath.Join(dir, "junk.pw")
	os.WriteFile(junk, []byte("this is not a pwstore file, just some text padding it out past a superblock............................................................................................................................................................."), 0o644)
	if _, err := OpenReader(junk, Config{}); err == nil {
		t.Error("reader opened a file that is not ours")
	}
	if _, err := Open(junk, Config{ManualTicks: true}); err == nil {
		t.Error("writer opened a file that is not ours")
	}
}

// TestRecoverRefusesLiveWriter: recovery of a file whose writer is still
// publishing refuses, and leaves the writer working. The writer takes no
// file lock, so that the heartbeat is what recovery watches.
func TestRecoverRefusesLiveWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "live.pw")
	w, err := Create(path, Config{TickLen: 10 * time.Millisecond, NoFileLock: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Recover(path, Config{WriterGone: 2 * time.Second}); !errors.Is(err, ErrWriterAlive) {
		t.Fatalf("recover of a live writer's file: %v, want ErrWriterAlive", err)
	}
	if _, err := w.CreateDataset("/after", Spec{Type: Int32, Shape: []uint64{1}, Chunk: []uint64{1}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("the writer after a refused recovery: %v", err)
	}
}
