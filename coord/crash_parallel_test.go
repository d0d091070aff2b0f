package coord

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"pwstore/collective"
	"pwstore/internal/tool/workload"
	"pwstore/vfs"
)

// parRanks is the size of the parallel writer of TestCrashEachWriteOfParallelEndOfTick.
const parRanks = 2

// parRun is a parallel writer (ranks as goroutines over an in-memory
// communicator) on one FaultFS, ready to end the cut tick.
type parRun struct {
	path   string
	fault  *vfs.FaultFS
	trace  *traceFS
	ws     []*Writer
	layout []workload.Dataset
	prev   uint64
}

// onRanks runs fn on every rank at once and joins their errors.
func onRanks(n int, fn func(rank int) error) error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for r := range n {
		wg.Go(func() { errs[r] = fn(r) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// appendRankStep is appendStep for one rank of parRanks: every rank
// extends and sets the attribute, each writes its own part of the step.
func appendRankStep(ds *Dataset, d workload.Dataset, s uint64, rank int) error {
	if err := ds.Extend((s + 1) * d.Rows); err != nil {
		return err
	}
	if sl, mine := d.RankSlab(s, rank, parRanks); mine {
		buf := make([]byte, sl.Elems()*uint64(d.DType.Size()))
		d.FillSlab(buf, s, sl)
		if err := ds.WriteSlab(sl.Start, sl.Count, buf); err != nil {
			return err
		}
	}
	return ds.SetAttr("steps", IntValue(int64(s+1)))
}

// startParRun writes preTicks ticks with every rank, then makes the cut
// tick's changes (one more step, each rank its part) without ending it.
func startParRun(t *testing.T, seed uint64) *parRun {
	t.Helper()
	f := &parRun{path: filepath.Join(t.TempDir(), "par.pw"), fault: vfs.NewFaultFS(vfs.OS, seed),
		ws: make([]*Writer, parRanks),
		// Planes split every plane across the ranks: both write parts of
		// the same chunks, and each must write back only its own.
		layout: workload.Params{Kind: workload.Planes, Side: 8, Datasets: 3}.Defaults().Layout(parRanks)}
	f.trace = &traceFS{FS: f.fault}
	comms := collective.NewLocalWith(parRanks, collective.LocalOptions{Timeout: 20 * time.Second})
	err := onRanks(parRanks, func(rank int) error {
		w, err := Create(f.path, Config{ManualTicks: true, MaxLag: 3, CachePages: 16, Comm: comms[rank], FS: f.trace})
		if err != nil {
			return err
		}
		f.ws[rank] = w
		ds := make([]*Dataset, len(f.layout))
		for i, d := range f.layout {
			if ds[i], err = w.CreateDataset(d.Path, specOf(d)); err != nil {
				return err
			}
		}
		for s := range uint64(preTicks + 1) {
			for i, d := range f.layout {
				if err := appendRankStep(ds[i], d, s, rank); err != nil {
					return err
				}
			}
			if s == preTicks {
				break // the cut tick's changes: not ended here
			}
			if err := w.EndTick(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	f.prev = f.ws[0].Stats().LastTick
	return f
}

// endTick ends the cut tick on every rank.
func (f *parRun) endTick() ([]op, error) {
	before := f.trace.count()
	err := onRanks(parRanks, func(rank int) error { return f.ws[rank].EndTick() })
	return f.trace.since(before), err
}

// TestCrashEachWriteOfParallelEndOfTick: the end of tick of a two-rank
// writer - both ranks' raw data, then rank 0's metadata file - is cut by
// a process crash after each of its writes; recovery must land exactly on
// the previous or the new tick.
func TestCrashEachWriteOfParallelEndOfTick(t *testing.T) {
	clean := startParRun(t, 1)
	ops, err := clean.endTick()
	if err != nil {
		t.Fatal(err)
	}
	if err := onRanks(parRanks, func(rank int) error { return clean.ws[rank].Close() }); err != nil {
		t.Fatal(err)
	}
	var writes []op
	for _, o := range ops {
		if o.kind == "write" {
			writes = append(writes, o)
		}
	}
	h := headerAt(writes)
	if h < 0 {
		t.Fatalf("no header write in the parallel end of tick: %v", ops)
	}
	seen := map[landing]int{}
	for k := 0; k <= len(writes); k++ {
		f := startParRun(t, uint64(k)+1)
		f.fault.CrashAfter(f.fault.Writes()+k, -1)
		_, err := f.endTick()
		where := fmt.Sprintf("crash after write %d of %d", k, len(writes))
		if k < len(writes) && err == nil {
			t.Fatalf("%s: the end of tick succeeded", where)
		}
		f.fault.CrashAfter(f.fault.Writes(), 0)
		onRanks(parRanks, func(rank int) error { return f.ws[rank].Close() }) // fail: the job is dead
		allowed := onPrev
		switch {
		case k == h:
			allowed = onPrev | onNew
		case k > h:
			allowed = onNew
		}
		rec, err := Recover(f.path, Config{ForceRecover: true})
		if err != nil {
			t.Fatalf("%s: recover: %v", where, err)
		}
		got := map[uint64]landing{f.prev: onPrev, f.prev + 1: onNew}[rec.Tick]
		if got&allowed == 0 {
			t.Fatalf("%s: recovered tick %d (previous %d), want the %v", where, rec.Tick, f.prev, allowed)
		}
		fr := &faultRun{path: f.path, layout: f.layout}
		if c := fr.parContents(t, where); c != got {
			t.Fatalf("%s: recovered tick %d, the %v, but the file holds the %v", where, rec.Tick, got, c)
		}
		seen[got]++
	}
	if seen[onPrev] == 0 || seen[onNew] == 0 {
		t.Fatalf("landings %v: the cuts did not cover both sides of the header write", seen)
	}
	t.Logf("%d writes in the parallel end of tick (header at %d): %d recovered the previous tick, %d the new one",
		len(writes), h, seen[onPrev], seen[onNew])
}

// parContents checks a recovered parallel file: it verifies and holds
// exactly preTicks or preTicks+1 steps, which it says.
func (f *faultRun) parContents(t *testing.T, where string) landing {
	t.Helper()
	r, err := OpenReader(f.path, Config{ManualTicks: true})
	if err != nil {
		t.Fatalf("%s: open recovered file: %v", where, err)
	}
	defer r.Close()
	if err := r.Check(); err != nil {
		t.Fatalf("%s: check: %v", where, err)
	}
	v, err := r.Dataset(f.layout[0].Path)
	if err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	val, _, err := v.Attr("steps")
	if err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	n, _ := val.Int()
	got := map[int64]landing{preTicks: onPrev, preTicks + 1: onNew}[n]
	if got == 0 {
		t.Fatalf("%s: %d steps, want %d or %d", where, n, preTicks, preTicks+1)
	}
	checkExact(t, r, f.layout, uint64(n), fmt.Sprintf("%s, file holding the %v", where, got))
	return got
}
