package coord

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"

	"pwstore/vfs"
)

// Crash and fault tests of Close: the run of crash_fault_test.go, whose
// cut tick Close ends. Close writes the last tick (its pages, index and
// header), then the finalising header, then every page the buffer still
// delayed, then the closed header. Cut at each of its writes and fsyncs,
// recovery must land on the previous tick or the last one, never in
// between; a reader left on the previous tick that reads without ticking
// must read one of the two whole, without an error.

// closeOps is the sequence of operations of an uncut Close, checked
// against the protocol: the last tick's header, the finalising header,
// the pages written early (after it, never between the two headers), the
// closed header. It returns the ops and where the two first headers are.
func closeOps(t *testing.T, durable bool) (ops []op, last, final int) {
	t.Helper()
	f := startFaultRun(t, durable, 1)
	before := f.trace.count()
	if err := f.w.Close(); err != nil {
		t.Fatal(err)
	}
	ops = f.trace.since(before)
	var hs []int
	for i, o := range ops {
		if o.isHeader() {
			hs = append(hs, i)
		}
	}
	if len(hs) != 3 {
		t.Fatalf("Close wrote %d metadata-file headers, want the last tick, finalising and closed: %v", len(hs), ops)
	}
	last, final = hs[0], hs[1]
	if slices.ContainsFunc(ops[last:final], isPageWriteBack) {
		t.Fatalf("Close wrote a page back between the last tick's header and the finalising one: %v", ops)
	}
	if !slices.ContainsFunc(ops[final:hs[2]], isPageWriteBack) {
		t.Fatalf("Close wrote no delayed page early: the test misses the case: %v", ops)
	}
	return ops, last, final
}

// staleReader opens a reader at the tick before the cut one with a
// one-page buffer, so that every read after the cut loads from the files.
func (f *faultRun) staleReader(t *testing.T) *Reader {
	t.Helper()
	r, err := OpenReader(f.path, Config{ManualTicks: true, CachePages: 1})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.snapshot(t, r, "stale reader before the cut"); got != onPrev {
		t.Fatalf("stale reader opened before the cut holds the %v", got)
	}
	return r
}

// recoverClosed recovers the file as the cut Close left it and checks
// that it is one of the allowed ticks and verifies. A tick after the last
// one (finalising, closed) holds the last one's contents.
func (f *faultRun) recoverClosed(t *testing.T, allowed landing, where string) landing {
	t.Helper()
	rec, err := Recover(f.path, Config{ForceRecover: true})
	if err != nil {
		t.Fatalf("%s: recover: %v", where, err)
	}
	got := f.contents(t, where)
	switch {
	case rec.Tick == 0 && rec.Needed:
		t.Fatalf("%s: recovery needed at tick 0: %+v", where, rec)
	case rec.Tick == f.prev && got != onPrev, rec.Tick > f.prev && got != onNew, rec.Tick != 0 && rec.Tick < f.prev:
		t.Fatalf("%s: recovered tick %d (previous %d), the file holds the %v", where, rec.Tick, f.prev, got)
	}
	if got&allowed == 0 {
		t.Fatalf("%s: recovered the %v (tick %d), want the %v", where, got, rec.Tick, allowed)
	}
	return got
}

// TestCrashEachWriteOfClose: a process crash after each write of Close
// (the next write torn at a random byte, every later one lost), with and
// without durable mode. Before recovery, a reader left on the previous
// tick reads one whole tick without an error (the last one whenever the
// finalising header was written, since it may then meet pages written
// early), and a reader that ticks adopts an allowed tick. Recovery then
// lands on the previous tick before the last tick's header, the last
// after it.
func TestCrashEachWriteOfClose(t *testing.T) {
	for _, durable := range []bool{false, true} {
		t.Run(fmt.Sprintf("durable=%v", durable), func(t *testing.T) {
			ops, _, _ := closeOps(t, durable)
			var writes []op
			for _, o := range ops {
				if o.kind == "write" {
					writes = append(writes, o)
				}
			}
			var hs []int
			for i, o := range writes {
				if o.isHeader() {
					hs = append(hs, i)
				}
			}
			last, final := hs[0], hs[1]
			seen := map[landing]int{}
			for k := 0; k <= len(writes); k++ {
				f := startFaultRun(t, durable, uint64(k)+1)
				stale := f.staleReader(t)
				r := f.openFollower(t)
				f.fault.CrashAfter(f.fault.Writes()+k, -1)
				err := f.w.Close()
				if k < len(writes) && !errors.Is(err, vfs.ErrCrashed) {
					t.Fatalf("crash after write %d of %d: Close returned %v, want the crash", k, len(writes), err)
				}
				if k == len(writes) && err != nil {
					t.Fatal(err)
				}
				where := fmt.Sprintf("crash after write %d of %d", k, len(writes))
				if k < len(writes) {
					where += fmt.Sprintf(" (next: %v)", writes[k])
				}
				allowed := onPrev
				switch {
				case k == last:
					allowed = onPrev | onNew // the last tick's header is torn
				case k > last:
					allowed = onNew
				}
				staleAllowed := onPrev | onNew
				if k > final {
					staleAllowed = onNew // pages may have been written early: it must move
				}
				if got := f.snapshot(t, stale, where+", stale reader"); got&staleAllowed == 0 {
					t.Fatalf("%s: stale reader reads the %v, want the %v", where, got, staleAllowed)
				}
				stale.Close()
				info, err := r.Tick()
				if err != nil {
					t.Fatalf("%s: reader tick: %v", where, err)
				}
				if got := f.snapshot(t, r, where+", reader after a tick"); got&allowed == 0 {
					t.Fatalf("%s: reader at tick %d reads the %v, want the %v", where, info.Tick, got, allowed)
				}
				got := f.recoverClosed(t, allowed, where)
				f.afterRecovery(t, r, got, where)
				seen[got]++
			}
			if seen[onPrev] == 0 || seen[onNew] == 0 {
				t.Fatalf("landings %v: the cuts did not cover both sides of the last tick's header", seen)
			}
			t.Logf("%d writes in Close (last tick's header at %d, finalising at %d): %d recovered the previous tick, %d the last one",
				len(writes), last, final, seen[onPrev], seen[onNew])
		})
	}
}

// TestPowerLossEachStepOfDurableClose: in durable mode, power fails
// before each write and fsync of Close in turn (and after the last);
// every write not yet fsynced survives or not at random, in random order,
// the last survivor torn. Once the last tick's header is synced, nothing
// of it is lost, whatever the early writes did.
func TestPowerLossEachStepOfDurableClose(t *testing.T) {
	ops, last, _ := closeOps(t, true)
	hsync := syncAfter(ops, last)
	if hsync < 0 {
		t.Fatalf("durable Close never synced the last tick's header: %v", ops)
	}
	cutEachOp(t, ops, last, hsync, func(f *faultRun, k int) {
		err := f.w.Close()
		if k < len(ops) && !errors.Is(err, errPowerCut) {
			t.Fatalf("power cut at op %d: Close returned %v", k, err)
		}
		if k == len(ops) && err != nil {
			t.Fatal(err)
		}
	}, (*faultRun).recoverClosed)
}

// TestIOErrorDuringClose: EIO or ENOSPC from each operation of Close in
// turn is an error from Close that names the file; recovery lands on the
// previous tick, or the last one once its header reached the file.
func TestIOErrorDuringClose(t *testing.T) {
	for _, durable := range []bool{false, true} {
		t.Run(fmt.Sprintf("durable=%v", durable), func(t *testing.T) {
			ops, last, _ := closeOps(t, durable)
			for k := range ops {
				errno := []syscall.Errno{syscall.EIO, syscall.ENOSPC}[k%2]
				where := fmt.Sprintf("%v at op %d of %d (%v)", errno, k, len(ops), ops[k])
				f := startFaultRun(t, durable, uint64(k)+1)
				stale := f.staleReader(t)
				f.fault.FailAt(k+1, errno)
				err := f.w.Close()
				if !errors.Is(err, errno) {
					t.Fatalf("%s: Close returned %v", where, err)
				}
				if !strings.Contains(err.Error(), f.path) {
					t.Errorf("%s: the error does not name the file: %v", where, err)
				}
				allowed := onPrev
				if k > last {
					allowed = onNew
				}
				// The writer stopped at the failure: a stale reader still reads
				// a whole tick.
				if got := f.snapshot(t, stale, where+", stale reader"); got&(onPrev|onNew) == 0 {
					t.Fatalf("%s: stale reader reads the %v", where, got)
				}
				stale.Close()
				f.recoverClosed(t, allowed, where)
			}
		})
	}
}
