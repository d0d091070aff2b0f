// Package writerbench runs pwriter's workloads in-process, as Go
// benchmarks, so that `go test -cpuprofile` shows where a workload's time
// goes: the writer (job.RunWriter, exactly what `pwriter run` runs) and, with
// readers, a following reader (job.Watch, what `preader watch` runs).
//
//	go test -run '^$' -bench . -benchtime 1x -cpuprofile cpu.out ./bench/writerbench/
//	go tool pprof -top writerbench.test cpu.out
package writerbench

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"pwstore/coord"
	"pwstore/internal/tool/job"
	"pwstore/internal/tool/stats"
	"pwstore/internal/tool/workload"
)

// runWorkload writes p once per b.N with the default tick and max_lag, and
// with a one-rank verifying reader when watch is set.
func runWorkload(b *testing.B, p workload.Params, watch bool) {
	for range b.N {
		path := filepath.Join(b.TempDir(), "w.pw")
		var wg sync.WaitGroup
		var wsum job.WatchSummary
		var werr error
		if watch {
			wg.Go(func() {
				wsum, werr = job.Watch(path, job.WatchOptions{Timeout: time.Minute, Poll: 2 * time.Millisecond})
			})
		}
		cpu0, err := stats.CPU()
		if err != nil {
			b.Fatal(err)
		}
		sum, err := job.RunWriter(path, job.WriterOptions{Params: p, Config: coord.Config{TickLen: coord.DefaultTickLen, MaxLag: coord.DefaultMaxLag}})
		if err != nil {
			b.Fatal(err)
		}
		cpu, err := stats.CPU()
		if err != nil {
			b.Fatal(err)
		}
		wg.Wait()
		if werr != nil {
			b.Fatalf("reader: %v", werr)
		}
		if watch && wsum.Steps != p.Steps {
			b.Fatalf("reader saw %d of %d steps", wsum.Steps, p.Steps)
		}
		b.SetBytes(sum.Bytes)
		b.ReportMetric(sum.MBPerS, "MB/s")
		b.ReportMetric(sum.AppendsPerS, "appends/s")
		b.ReportMetric(sum.EOTP99, "eot-p99-ms")
		// The process's CPU (the reader's too, with watch) and the ends of
		// tick that published changes: the end of tick is at step
		// boundaries when it takes little time against the tick's age, so a
		// cheaper end of tick can mean more of them.
		b.ReportMetric(float64((cpu-cpu0).Microseconds())/1e3, "cpu-ms")
		b.ReportMetric(float64(sum.EOTs), "eots")
		if watch {
			b.ReportMetric(wsum.LatP99, "lat-p99-ms")
		}
	}
}

// BenchmarkPlanes: the RFC's planes, 10 datasets x 20 planes of 1000x1000
// int32, without readers.
func BenchmarkPlanes(b *testing.B) {
	runWorkload(b, workload.Params{Kind: workload.Planes, Datasets: 10, Steps: 20, Side: 1000}, false)
}

// BenchmarkRR: round robin, 1000 datasets x 100 passes of one element,
// without readers.
func BenchmarkRR(b *testing.B) {
	runWorkload(b, workload.Params{Kind: workload.RR, Datasets: 1000, Steps: 100}, false)
}

// BenchmarkRR10k: round robin at the RFC's 10,000 datasets, 20 passes,
// without readers.
func BenchmarkRR10k(b *testing.B) {
	runWorkload(b, workload.Params{Kind: workload.RR, Datasets: 10000, Steps: 20}, false)
}

// BenchmarkRRWatched: BenchmarkRR with a verifying reader following.
func BenchmarkRRWatched(b *testing.B) {
	runWorkload(b, workload.Params{Kind: workload.RR, Datasets: 1000, Steps: 100}, true)
}

// BenchmarkCkpt: the checkpoint workload, 3 fields of 128^3 float64 x 20
// steps (1 GB), one rank, without readers.
func BenchmarkCkpt(b *testing.B) {
	runWorkload(b, workload.Params{Kind: workload.Ckpt, Datasets: 3, Steps: 20, Side: 128}, false)
}

// BenchmarkCkptWatched: the checkpoint workload, 3 fields of 64^3 float64 x
// 30 steps, with a verifying reader following.
func BenchmarkCkptWatched(b *testing.B) {
	runWorkload(b, workload.Params{Kind: workload.Ckpt, Datasets: 3, Steps: 30, Side: 64}, true)
}

// BenchmarkPlanesPrefilled: the planes workload written as HDF5's peer
// writes it (one plane buffer, filled once), without readers, with the
// default chunk cache and with one small enough that the 4 MB chunks bypass
// it (pfile writes chunks over half the cache straight to the file).
// Reports MB/s up to the last step's end of tick and through Close.
func BenchmarkPlanesPrefilled(b *testing.B) {
	for _, c := range []struct {
		name string
		raw  int
	}{{"cache=default", 0}, {"cache=4MiB", 4 << 20}} {
		b.Run(c.name, func(b *testing.B) {
			const datasets, planes, side = 10, 20, 1000
			plane := make([]byte, side*side*4)
			for i := range plane {
				plane[i] = byte(i)
			}
			for range b.N {
				path := filepath.Join(b.TempDir(), "p.pw")
				start := time.Now()
				w, err := coord.Create(path, coord.Config{TickLen: coord.DefaultTickLen, RawCacheBytes: c.raw})
				if err != nil {
					b.Fatal(err)
				}
				ds := make([]*coord.Dataset, datasets)
				for i := range ds {
					if ds[i], err = w.CreateDataset(fmt.Sprintf("/p%02d", i), coord.Spec{Type: coord.Int32,
						Shape: []uint64{0, side, side}, MaxShape: []uint64{coord.Unlimited, side, side}, Chunk: []uint64{1, side, side}}); err != nil {
						b.Fatal(err)
					}
				}
				for n := range uint64(planes) {
					for _, d := range ds {
						if err := d.Extend(n + 1); err != nil {
							b.Fatal(err)
						}
						if err := d.WriteSlab([]uint64{n, 0, 0}, []uint64{1, side, side}, plane); err != nil {
							b.Fatal(err)
						}
					}
				}
				if err := w.EndTick(); err != nil {
					b.Fatal(err)
				}
				published := time.Since(start)
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
				total := time.Since(start)
				mb := float64(datasets*planes*len(plane)) / 1e6
				b.ReportMetric(mb/published.Seconds(), "MB/s-to-last-tick")
				b.ReportMetric(mb/total.Seconds(), "MB/s-through-close")
			}
		})
	}
}
