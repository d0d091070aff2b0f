package mdfile

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"

	"pwstore/vfs"
)

// crashScenario replays the same deterministic history on a fresh file:
// ticks 1..k, then the update under test (tick k+1).
type crashScenario struct {
	seed    uint64
	k       uint64
	durable bool
	res     int              // reserved pages
	models  map[uint64]model // expected index per tick
	after   func(tick uint64, w *Writer)
}

func newScenario(seed uint64, durable bool) *crashScenario {
	sc := &crashScenario{seed: seed, k: 3 + seed%6, durable: durable, res: 4, models: map[uint64]model{}}
	return sc
}

// run replays the history through fsys, calls arm before the last update
// and returns that update's error.
func (sc *crashScenario) run(t *testing.T, fsys *vfs.FaultFS, path string, arm func()) (*Writer, error) {
	t.Helper()
	const ps = 512
	w, err := Create(fsys, path, WriterOptions{PageSize: ps, MaxLag: 3, ReservedPages: sc.res, LeafPages: 1, Durable: sc.durable,
		SyncData: func() error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(sc.seed, 99))
	m := model{}
	for tick := uint64(1); tick <= sc.k+1; tick++ {
		if tick == sc.k+1 {
			arm()
		}
		var err error
		if tick%4 == 0 && tick <= sc.k {
			err = w.Heartbeat(tick, w.opts.Now())
		} else {
			changed, removed := randomTick(rng, m, tick, ps, 25)
			err = w.Update(tick, changed, removed)
		}
		sc.models[tick] = m.clone()
		if tick == sc.k+1 {
			return w, err
		}
		if err != nil {
			t.Fatalf("tick %d before the crash: %v", tick, err)
		}
		if sc.after != nil {
			sc.after(tick, w)
		}
	}
	return w, nil
}

// checkRecoverable requires the file to open, for recovery and for a
// reader, as tick k or k+1 with exactly that tick's content.
func (sc *crashScenario) checkRecoverable(path string) (uint64, error) {
	rc, err := OpenForRecovery(vfs.OS, path, ReaderOptions{})
	if err != nil {
		return 0, fmt.Errorf("recovery: %w", err)
	}
	defer rc.Close()
	tick := rc.Snapshot.Tick()
	if tick != sc.k && tick != sc.k+1 {
		return 0, fmt.Errorf("recovered tick %d, want %d or %d", tick, sc.k, sc.k+1)
	}
	if err := checkSnapshot(rc.r, rc.Snapshot, sc.models[tick]); err != nil {
		return 0, fmt.Errorf("recovered: %w", err)
	}
	r, err := Open(vfs.OS, path, ReaderOptions{Wait: 1, Retries: 3})
	if err != nil {
		return 0, fmt.Errorf("reader: %w", err)
	}
	defer r.Close()
	if got := r.Current().Tick(); got != tick {
		return 0, fmt.Errorf("reader loads tick %d, recovery %d", got, tick)
	}
	return tick, checkSnapshot(r, r.Current(), sc.models[tick])
}

// TestCrashAtEveryWrite crashes the update of tick k+1 at each of its
// writes in turn, the crashing write landing nothing or a random prefix.
func TestCrashAtEveryWrite(t *testing.T) {
	for seed := range uint64(12) {
		sc := newScenario(seed, false)
		for _, torn := range []int{0, -1} {
			seen := map[uint64]bool{}
			for n := 0; ; n++ {
				path := mdPath(t)
				fsys := vfs.NewFaultFS(vfs.OS, seed*1000+uint64(n))
				_, err := sc.run(t, fsys, path, func() { fsys.CrashAfter(fsys.Writes()+n, torn) })
				if !fsys.Crashed() {
					if err != nil {
						t.Fatalf("seed %d: update without crash: %v", seed, err)
					}
					break
				}
				if !errors.Is(err, vfs.ErrCrashed) {
					t.Fatalf("seed %d write %d: update error %v, want the crash", seed, n, err)
				}
				tick, err := sc.checkRecoverable(path)
				if err != nil {
					t.Fatalf("seed %d, crash at write %d of the update (torn %d): %v", seed, n, torn, err)
				}
				seen[tick] = true
			}
			if !seen[sc.k] {
				t.Fatalf("seed %d: no crash point left the previous tick: test is vacuous", seed)
			}
		}
	}
}

// TestPowerLossDurable: in durable mode, losing power at any write of an
// update (the unsynced writes dropped, kept in part, reordered, torn)
// leaves tick k or k+1; losing it after the update returned leaves k+1.
func TestPowerLossDurable(t *testing.T) {
	for seed := range uint64(6) {
		sc := newScenario(seed, true)
		for n, finished := 0, false; !finished; n++ {
			for _, keep := range []float64{0, 0.5, 1} {
				path := mdPath(t)
				fsys := vfs.NewFaultFS(vfs.OS, seed*7919+uint64(n))
				fsys.TrackUnsynced(true)
				_, err := sc.run(t, fsys, path, func() { fsys.CrashAfter(fsys.Writes()+n, -1) })
				finished = !fsys.Crashed()
				if finished && err != nil {
					t.Fatalf("seed %d: %v", seed, err)
				}
				if err := fsys.PowerLoss(keep); err != nil {
					t.Fatal(err)
				}
				tick, err := sc.checkRecoverable(path)
				if err != nil {
					t.Fatalf("seed %d, power loss at write %d (keep %.1f): %v", seed, n, keep, err)
				}
				if finished && tick != sc.k+1 {
					t.Fatalf("seed %d: durable update returned but power loss left tick %d", seed, tick)
				}
			}
		}
	}
}

// TestInjectedErrors: an EIO or ENOSPC at any operation of an update
// fails it cleanly; the file still loads and the writer refuses more.
func TestInjectedErrors(t *testing.T) {
	for seed := range uint64(6) {
		sc := newScenario(seed, seed%2 == 0)
		for n := 1; ; n++ {
			path := mdPath(t)
			fsys := vfs.NewFaultFS(vfs.OS, seed)
			injected := []error{syscall.EIO, syscall.ENOSPC}[n%2]
			w, err := sc.run(t, fsys, path, func() { fsys.FailAt(n, injected) })
			if err == nil {
				break
			}
			if !errors.Is(err, injected) {
				t.Fatalf("seed %d op %d: %v, want %v", seed, n, err, injected)
			}
			if err := w.Heartbeat(sc.k+2, w.opts.Now()); err == nil || errors.Is(err, ErrTickOrder) {
				t.Fatalf("seed %d op %d: writer accepted a tick after an I/O error: %v", seed, n, err)
			}
			if _, err := sc.checkRecoverable(path); err != nil {
				t.Fatalf("seed %d, %v at op %d: %v", seed, injected, n, err)
			}
		}
	}
}

// TestCrashDuringRelocation crashes, at each write in turn, the update
// that moves the index out of the reserved pages.
func TestCrashDuringRelocation(t *testing.T) {
	for seed := range uint64(4) {
		probe := newScenario(seed, false)
		probe.res, probe.k = 24, 40
		moved := uint64(0)
		probe.after = func(tick uint64, w *Writer) {
			if moved == 0 && w.Stats().Relocated {
				moved = tick
			}
		}
		probe.run(t, vfs.NewFaultFS(vfs.OS, 1), mdPath(t), func() {})
		if moved < 2 {
			t.Fatalf("seed %d: relocation at tick %d, want a later one", seed, moved)
		}
		sc := newScenario(seed, false)
		sc.res, sc.k = 24, moved-1
		for n := 0; ; n++ {
			path := mdPath(t)
			fsys := vfs.NewFaultFS(vfs.OS, seed+uint64(n))
			w, err := sc.run(t, fsys, path, func() { fsys.CrashAfter(fsys.Writes()+n, -1) })
			if !fsys.Crashed() {
				if err != nil || !w.Stats().Relocated {
					t.Fatalf("seed %d: update of tick %d did not relocate: %v", seed, moved, err)
				}
				break
			}
			if _, err := sc.checkRecoverable(path); err != nil {
				t.Fatalf("seed %d, crash at write %d of the relocating update: %v", seed, n, err)
			}
		}
	}
}
