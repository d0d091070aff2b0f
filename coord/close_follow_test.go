package coord

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"pwstore/collective"
	"pwstore/internal/infra/natsd"
	"pwstore/internal/tool/workload"
	"pwstore/pfile"
)

// readWhole reads and checks the whole file in one reader call, so that
// the call sees one snapshot (a call that meets a finalising writer is
// rerun whole): every structure and checksum, and in every dataset the
// steps attribute, the shape and every value of every step, all datasets
// at the same step count. It returns the tick the call read and the steps.
func readWhole(r *Reader, layout []workload.Dataset) (tick, steps uint64, err error) {
	err = r.read(func() error {
		tick, steps = r.idx.tick(), 0
		if err := r.pf.Check(pfile.CheckOptions{Closed: r.ended()}); err != nil {
			return err
		}
		for i, d := range layout {
			ds, err := r.pf.Dataset(d.Path)
			if err != nil {
				return err
			}
			shape, err := ds.Shape()
			if err != nil {
				return err
			}
			pv, ok, err := ds.Attr("steps")
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("%s: no steps attribute", d.Path)
			}
			n, _ := coordValue(pv).Int()
			if shape[0] != uint64(n)*d.Rows {
				return fmt.Errorf("tick %d: mixed snapshot: %s has %d rows and says %d steps", tick, d.Path, shape[0], n)
			}
			if i == 0 {
				steps = uint64(n)
			} else if uint64(n) != steps {
				return fmt.Errorf("tick %d: mixed snapshot: %s has %d steps, %s %d", tick, layout[0].Path, steps, d.Path, n)
			}
			for s := range uint64(n) {
				sl, _ := d.RankSlab(s, 0, 1)
				buf := make([]byte, sl.Elems()*uint64(d.DType.Size()))
				if err := ds.ReadSlab(sl.Start, sl.Count, buf); err != nil {
					return err
				}
				if err := d.CheckSlab(buf, s, sl); err != nil {
					return fmt.Errorf("tick %d: %w", tick, err)
				}
			}
		}
		return nil
	})
	return tick, steps, err
}

// seen is one whole read: the tick and the steps it found.
type seen struct{ tick, steps uint64 }

// TestReadersFollowRandomClose: a writer reopens a closed file, so its
// pages live in the data file outside any index, and changes them every
// tick (max lag 4, a two-page buffer: many writes are delayed), then
// closes after a random number of ticks, at a random moment of its
// readers' reads. Three readers with one-page buffers (every read loads
// from the files), each up to max_lag - 1 ticks behind, read the whole
// file in one call over and over, before, during and after the close;
// once as three independent readers, once as the three ranks of one
// collective reader (which tick together, and may each move to the final
// tick alone). Every call must read exactly the state of one published
// tick (the adopted one, or the final one once Close marked the file
// finalising): never a mix, never a wrong value; and no call fails.
func TestReadersFollowRandomClose(t *testing.T) {
	const maxLag = 4
	for _, coll := range []bool{false, true} {
		t.Run(fmt.Sprintf("collective=%v", coll), func(t *testing.T) {
			final := uint64(0) // moves to the final tick over all runs
			for seed := range uint64(8) {
				t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
					final += followRandomClose(t, seed, maxLag, coll)
				})
			}
			t.Logf("%d moves to the final tick in 8 runs", final)
			if final == 0 {
				t.Fatal("no reader ever met a finalising writer: the test missed the case")
			}
		})
	}
}

// collectiveComms opens n ranks of one job on a fresh embedded server.
func collectiveComms(t *testing.T, n int) []collective.Comm {
	t.Helper()
	srv, err := natsd.Start(natsd.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	return OpenTestComms(t, "readers", n, func(int) string { return srv.URL() }, 20*time.Second)
}

// OpenTestComms opens n ranks of job, rank r on the server at url(r),
// closed when the test ends. Exported to the external tests (coord_test).
func OpenTestComms(t *testing.T, job string, n int, url func(r int) string, timeout time.Duration) []collective.Comm {
	t.Helper()
	comms := make([]collective.Comm, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for r := range n {
		wg.Go(func() {
			comms[r], errs[r] = collective.Open(context.Background(), collective.Config{
				Job: job, Rank: r, Size: n, URL: url(r), Timeout: timeout})
		})
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, c := range comms {
			if c != nil {
				c.Close()
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return comms
}

func followRandomClose(t *testing.T, seed uint64, maxLag uint64, coll bool) uint64 {
	rng := rand.New(rand.NewPCG(seed, 17))
	path := filepath.Join(t.TempDir(), "close.pw")
	p := workload.Params{Kind: workload.RR, Datasets: 6, Elems: 5}.Defaults()
	layout := writeClosed(t, path, p, 3)

	var mu sync.Mutex // guards stepsAt
	stepsAt := map[uint64]uint64{}
	steps := uint64(3)
	w, err := Open(path, Config{ManualTicks: true, MaxLag: maxLag, CachePages: 2,
		OnPublish: func(pi PublishInfo) {
			mu.Lock()
			stepsAt[pi.Tick] = steps
			mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	ds := make([]*Dataset, len(layout))
	for i, d := range layout {
		if ds[i], err = w.Dataset(d.Path); err != nil {
			t.Fatal(err)
		}
	}
	readers := make([]*Reader, 3)
	if coll {
		comms := collectiveComms(t, len(readers))
		errs := make([]error, len(readers))
		var wg sync.WaitGroup
		for i := range readers {
			wg.Go(func() {
				readers[i], errs[i] = OpenReader(path, Config{ManualTicks: true, CachePages: 1, Comm: comms[i], WriterGone: time.Minute})
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
	} else {
		for i := range readers {
			if readers[i], err = OpenReader(path, Config{ManualTicks: true, CachePages: 1, WriterGone: time.Minute}); err != nil {
				t.Fatal(err)
			}
		}
	}

	var closed atomic.Bool
	var wg sync.WaitGroup
	obs := make([][]seen, len(readers))
	errs := make([]error, len(readers))
	done := make([]atomic.Bool, len(readers))
	iters := make([]atomic.Uint64, len(readers)) // whole reads done
	for i, r := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer done[i].Store(true)
			rr := rand.New(rand.NewPCG(seed, uint64(i)))
			for {
				tick, n, err := readWhole(r, layout)
				if err != nil {
					errs[i] = fmt.Errorf("reader %d: %w", i, err)
					return
				}
				obs[i] = append(obs[i], seen{tick, n})
				iters[i].Add(1)
				lag, err := r.Lag()
				if err != nil {
					errs[i] = fmt.Errorf("reader %d: lag: %w", i, err)
					return
				}
				// Ranks of a collective reader tick together, every round.
				if !coll && !closed.Load() && lag < maxLag-2 && rr.IntN(3) > 0 {
					continue
				}
				info, err := r.Tick()
				if err != nil {
					errs[i] = fmt.Errorf("reader %d: tick: %w", i, err)
					return
				}
				if info.Ended {
					if tick, n, err = readWhole(r, layout); err != nil {
						errs[i] = fmt.Errorf("reader %d, file ended: %w", i, err)
					}
					obs[i] = append(obs[i], seen{tick, n})
					return
				}
			}
		}()
	}

	// Before each end of tick (Close's too), let no reader fall max_lag
	// behind (that is ErrLagging, not this test): every reader has read
	// twice since the last one (so a collective reader has ticked since,
	// to a tick rank 0 loaded after it) and lags at most max_lag - 2.
	var since []uint64
	throttle := func() {
		for i, r := range readers {
			for !done[i].Load() {
				lag, err := r.Lag()
				if err == nil && lag <= maxLag-2 && (since == nil || iters[i].Load() >= since[i]+2) {
					break
				}
				time.Sleep(100 * time.Microsecond)
			}
		}
	}
	ended := func() { // after each end of tick
		since = since[:0]
		for i := range readers {
			since = append(since, iters[i].Load())
		}
	}
	rounds := 1 + rng.IntN(20)
	for range rounds {
		throttle()
		mu.Lock()
		steps++
		mu.Unlock()
		for i, d := range layout {
			appendStep(t, ds[i], d, steps-1)
		}
		if err := w.EndTick(); err != nil {
			t.Fatal(err)
		}
		ended()
	}
	throttle()
	time.Sleep(time.Duration(rng.IntN(2000)) * time.Microsecond)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	closed.Store(true)
	wg.Wait()
	if st := w.Stats().Pagebuf; st.DelayedWrites == 0 {
		t.Fatalf("no write was delayed: the test did not exercise the rule (%+v)", st)
	}

	last := uint64(0)
	for tick := range stepsAt {
		last = max(last, tick)
	}
	moves := uint64(0)
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	for i, r := range readers {
		moves += r.Stats().Final
		r.Close()
		for _, o := range obs[i] {
			want, ok := stepsAt[o.tick]
			if !ok && o.tick > last {
				want, ok = steps, true // finalising or closed: the last tick's contents
			}
			if !ok || o.steps != want {
				t.Fatalf("reader %d read tick %d with %d steps; the writer published %d steps then (known %v, last tick %d)",
					i, o.tick, o.steps, want, ok, last)
			}
		}
		if end := obs[i][len(obs[i])-1]; end.tick <= last || end.steps != steps {
			t.Fatalf("reader %d ended at tick %d with %d steps, want after tick %d with %d", i, end.tick, end.steps, last, steps)
		}
	}
	return moves
}
