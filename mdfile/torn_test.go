package mdfile

import (
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"pwstore/vfs"
)

// history records, per published tick, the index the writer meant.
type history struct {
	mu     sync.Mutex // guards models
	models map[uint64]model
}

func (h *history) put(tick uint64, m model) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.models[tick] = m
}

func (h *history) get(tick uint64) (model, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	m, ok := h.models[tick]
	return m, ok
}

// TestTornWritesConcurrentReaders: a writer publishes ticks continuously
// through a file system that splits every write at random byte
// boundaries, while readers Load thousands of times from the real file.
// Every load must give a tick whose index is exactly what the writer
// published for it and whose images hold that tick's versions.
func TestTornWritesConcurrentReaders(t *testing.T) {
	const ps, lag, readers = 512, 50, 3
	loads := 2000
	if testing.Short() {
		loads = 300
	}
	path := mdPath(t)
	fsys := vfs.NewFaultFS(vfs.OS, 42)
	fsys.SplitWrites(true)
	w := mustCreate(t, fsys, path, WriterOptions{PageSize: ps, MaxLag: lag, ReservedPages: 4, LeafPages: 1})
	hist := &history{models: map[uint64]model{}}
	m := model{}
	rng := rand.New(rand.NewPCG(5, 5))
	step := func(tick uint64) error {
		if tick > 1 && rng.IntN(4) == 0 {
			prev, _ := hist.get(tick - 1)
			hist.put(tick, prev)
			return w.Heartbeat(tick, time.Now())
		}
		var changed []Image
		var removed []uint64
		for range rng.IntN(12) {
			page := uint64(rng.IntN(400)) * 4
			if page == 0 {
				page = 1<<40 + 4 // a page far above 2^32
			}
			if slicesContain(changed, page) || containsU(removed, page) {
				continue
			}
			if _, ok := m[page]; ok && rng.IntN(4) == 0 {
				removed = append(removed, page)
				delete(m, page)
				continue
			}
			n := 1 + rng.IntN(3)
			changed = append(changed, Image{Page: page, Data: testImage(page, tick, n, ps)})
			m[page] = version{tick, n}
		}
		hist.put(tick, m.clone())
		return w.Update(tick, changed, removed)
	}
	if err := step(1); err != nil {
		t.Fatal(err)
	}
	var writerTick atomic.Uint64
	writerTick.Store(1)
	stop := make(chan struct{})
	writerDone := make(chan error, 1)
	go func() { // owned by this test: stopped by closing stop
		for tick := uint64(2); ; tick++ {
			select {
			case <-stop:
				writerDone <- nil
				return
			default:
			}
			if err := step(tick); err != nil {
				writerDone <- err
				return
			}
			writerTick.Store(tick)
			time.Sleep(20 * time.Microsecond)
		}
	}()

	var wg sync.WaitGroup
	var lagged, distinct atomic.Int64
	errs := make(chan error, readers)
	for range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := Open(vfs.OS, path, ReaderOptions{})
			if err != nil {
				errs <- err
				return
			}
			defer r.Close()
			var last uint64
			buf := make([]byte, 4*ps)
			for range loads {
				time.Sleep(50 * time.Microsecond) // let the writer run between loads
				snap, err := r.Load()
				if err != nil {
					errs <- err
					return
				}
				if snap.Tick() < last {
					errs <- errors.New("tick went backwards")
					return
				}
				if snap.Tick() != last {
					distinct.Add(1)
				}
				last = snap.Tick()
				want, ok := hist.get(snap.Tick())
				if !ok {
					t.Errorf("loaded tick %d the writer never published", snap.Tick())
					return
				}
				if snap.Len() != len(want) {
					t.Errorf("tick %d: %d entries, writer published %d", snap.Tick(), snap.Len(), len(want))
					return
				}
				entries := snap.Entries()
				for _, e := range entries {
					v, ok := want[e.Page]
					if !ok || e.Length != uint64(v.npages*ps) {
						t.Errorf("tick %d: entry %+v not what the writer published", snap.Tick(), e)
						return
					}
				}
				// Read a sample of the images: every entry's would cost too much.
				for range min(16, len(entries)) {
					e := entries[rand.IntN(len(entries))]
					v := want[e.Page]
					err := r.ReadImage(e, buf[:e.Length])
					if errors.Is(err, ErrImageChecksum) && writerTick.Load() >= snap.Tick()+lag-1 {
						lagged.Add(1) // the reader fell max_lag behind: its space may be reused
						break
					}
					if err != nil {
						t.Errorf("tick %d: %v", snap.Tick(), err)
						return
					}
					got, err := imageTick(buf[:e.Length], e.Page)
					if err != nil || got != v.tick {
						t.Errorf("tick %d: page %d holds tick %d (%v), want %d", snap.Tick(), e.Page, got, err, v.tick)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	if err := <-writerDone; err != nil {
		t.Fatalf("writer: %v", err)
	}
	close(errs)
	for err := range errs {
		t.Fatalf("reader: %v", err)
	}
	if distinct.Load() < readers*2 {
		t.Fatalf("readers saw only %d tick changes: the writer did not progress under them", distinct.Load())
	}
	t.Logf("writer reached tick %d; readers saw %d tick changes; %d image reads came after max_lag", writerTick.Load(), distinct.Load(), lagged.Load())
}

func slicesContain(imgs []Image, page uint64) bool {
	for _, im := range imgs {
		if im.Page == page {
			return true
		}
	}
	return false
}

func containsU(ps []uint64, p uint64) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}
