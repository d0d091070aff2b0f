package coord_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"pwstore/coord"
)

// follow runs a reader that ticks and reads every dataset's shape until
// stop is closed; it returns the snapshots it adopted.
func follow(b *testing.B, path string, stop <-chan struct{}) (wait func() int) {
	var wg sync.WaitGroup
	var ticks int
	var err error
	wg.Add(1)
	go func() {
		defer wg.Done()
		var r *coord.Reader
		r, err = coord.OpenReader(path, coord.Config{ManualTicks: true, OpenWait: 10 * time.Second})
		if err != nil {
			return
		}
		defer r.Close()
		for {
			select {
			case <-stop:
				return
			default:
			}
			var info coord.TickInfo
			if info, err = r.Tick(); err != nil {
				return
			}
			if info.Changed {
				ticks++
				infos, e := r.Datasets()
				if e != nil {
					err = e
					return
				}
				_ = infos
			}
			time.Sleep(time.Millisecond)
		}
	}()
	return func() int {
		wg.Wait()
		if err != nil && !errors.Is(err, coord.ErrWriterGone) {
			b.Fatalf("reader: %v", err)
		}
		return ticks
	}
}

// rrWriter creates the round-robin file at path: one writer with 100 ms
// ticks and datasets extensible 1-D int32 datasets.
func rrWriter(b *testing.B, path string, datasets int) (*coord.Writer, []*coord.Dataset) {
	w, err := coord.Create(path, coord.Config{TickLen: 100 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	ds := make([]*coord.Dataset, datasets)
	for i := range ds {
		if ds[i], err = w.CreateDataset(fmt.Sprintf("/rr/d%05d", i), coord.Spec{
			Type: coord.Int32, Shape: []uint64{0}, MaxShape: []uint64{coord.Unlimited}, Chunk: []uint64{1024},
		}); err != nil {
			b.Fatal(err)
		}
	}
	return w, ds
}

// appendPasses makes passes round-robin passes of one-element appends
// (Extend, then WriteSlab) over ds, then ends the tick.
func appendPasses(b *testing.B, w *coord.Writer, ds []*coord.Dataset, passes int) {
	val := []byte{1, 2, 3, 4}
	for pass := range uint64(passes) {
		for _, d := range ds {
			if err := d.Extend(pass + 1); err != nil {
				b.Fatal(err)
			}
			if err := d.WriteSlab([]uint64{pass}, []uint64{1}, val); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := w.EndTick(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkAppendsRR: the RFC's round robin, serial: one op is one pass of
// one-element appends over 1,000 datasets, with a reader following.
func BenchmarkAppendsRR(b *testing.B) {
	const datasets = 1000
	path := filepath.Join(b.TempDir(), "rr.pw")
	w, ds := rrWriter(b, path, datasets)
	stop := make(chan struct{})
	wait := follow(b, path, stop)
	b.ResetTimer()
	start := time.Now()
	appendPasses(b, w, ds, b.N)
	secs := time.Since(start).Seconds()
	b.StopTimer()
	close(stop)
	ticks := wait()
	b.ReportMetric(float64(b.N*datasets)/secs, "appends/s")
	b.ReportMetric(float64(ticks), "reader-ticks")
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkPlanes: the RFC's planes, serial: one op appends a
// (1, 1000, 1000) int32 plane to one of 10 datasets, round robin, with a
// reader following.
func BenchmarkPlanes(b *testing.B) {
	const side, datasets = 1000, 10
	path := filepath.Join(b.TempDir(), "planes.pw")
	w, err := coord.Create(path, coord.Config{TickLen: 100 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	ds := make([]*coord.Dataset, datasets)
	for i := range ds {
		if ds[i], err = w.CreateDataset(fmt.Sprintf("/planes/p%02d", i), coord.Spec{
			Type: coord.Int32, Shape: []uint64{0, side, side}, MaxShape: []uint64{coord.Unlimited, side, side},
			Chunk: []uint64{1, side, side},
		}); err != nil {
			b.Fatal(err)
		}
	}
	plane := make([]byte, side*side*4)
	for i := range plane {
		plane[i] = byte(i)
	}
	stop := make(chan struct{})
	wait := follow(b, path, stop)
	b.SetBytes(int64(len(plane)))
	b.ResetTimer()
	for i := range b.N {
		d, n := ds[i%datasets], uint64(i/datasets)
		if err := d.Extend(n + 1); err != nil {
			b.Fatal(err)
		}
		if err := d.WriteSlab([]uint64{n, 0, 0}, []uint64{1, side, side}, plane); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.EndTick(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	close(stop)
	b.ReportMetric(float64(wait()), "reader-ticks")
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
}
