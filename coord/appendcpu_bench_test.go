package coord_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"pwstore/coord"
	"pwstore/internal/tool/stats"
)

// cpuTime is the process's user plus system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	t, err := stats.CPU()
	if err != nil {
		b.Fatal(err)
	}
	return t
}

// BenchmarkAppendCPU: one-element appends (Extend, then WriteSlab) round
// robin over 1,000 and 10,000 datasets, one rank, no reader, ticks of
// 100 ms ended as they expire. Reports the process's CPU time per append,
// ends of tick and their writes included (issue 17's "CPU per
// one-element append").
func BenchmarkAppendCPU(b *testing.B) { cpuPerAppend(b, appendPasses) }

// BenchmarkAppendOneCallCPU: BenchmarkAppendCPU with one Append per
// append, what libpwstore's pw_dataset_append calls.
func BenchmarkAppendOneCallCPU(b *testing.B) { cpuPerAppend(b, appendCallPasses) }

// cpuPerAppend runs passes over 1,000 and 10,000 datasets and reports the
// CPU time per append and appends per second.
func cpuPerAppend(b *testing.B, passes func(*testing.B, *coord.Writer, []*coord.Dataset, int)) {
	for _, datasets := range []int{1000, 10000} {
		b.Run(fmt.Sprint(datasets), func(b *testing.B) {
			w, ds := rrWriter(b, filepath.Join(b.TempDir(), "rr.pw"), datasets)
			if err := w.EndTick(); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			cpu0, wall0 := cpuTime(b), time.Now()
			passes(b, w, ds, b.N)
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

// appendCallPasses is appendPasses with one Append per append.
func appendCallPasses(b *testing.B, w *coord.Writer, ds []*coord.Dataset, passes int) {
	val := []byte{1, 2, 3, 4}
	for range passes {
		for _, d := range ds {
			if err := d.Append(1, val); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := w.EndTick(); err != nil {
		b.Fatal(err)
	}
}
