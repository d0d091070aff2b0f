package coord_test

import (
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"pwstore/coord"
)

// cpuTime is the process's user plus system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkAppendCPU: one-element appends (Extend, then WriteSlab) round
// robin over 1,000 and 10,000 datasets, one rank, no reader, ticks of
// 100 ms ended as they expire. Reports the process's CPU time per append,
// ends of tick and their writes included (issue 17's "CPU per
// one-element append").
func BenchmarkAppendCPU(b *testing.B) {
	for _, datasets := range []int{1000, 10000} {
		b.Run(fmt.Sprint(datasets), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "rr.pw")
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
			if err := w.EndTick(); err != nil {
				b.Fatal(err)
			}
			val := []byte{1, 2, 3, 4}
			b.ResetTimer()
			cpu0, wall0 := cpuTime(b), time.Now()
			for pass := range uint64(b.N) {
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
			cpu, wall := cpuTime(b)-cpu0, time.Since(wall0)
			b.StopTimer()
			n := float64(b.N * datasets)
			b.ReportMetric(float64(cpu.Nanoseconds())/n, "cpu-ns/append")
			b.ReportMetric(n/wall.Seconds(), "appends/s")
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
		})
	}
}
