package colltick

import (
	"context"
	"fmt"
	"testing"
)

// TestRun: two reader ranks over a real embedded NATS server adopt ticks
// whose delta is near the target, and agree on the index.
func TestRun(t *testing.T) {
	res, err := Run(context.Background(), Options{Dir: t.TempDir(), Ranks: 2, Delta: 20, Iters: 5, Warmup: 3})
	if err != nil {
		t.Fatal(err)
	}
	if res.Iters != 5 || res.Ranks != 2 {
		t.Fatalf("result %+v", res)
	}
	if res.DeltaMin < 1 || res.Delta < 10 || res.Delta > 40 {
		t.Fatalf("measured delta %.1f (min %d) for a target of 20", res.Delta, res.DeltaMin)
	}
	if res.Entries < 20 || res.P50 <= 0 || res.Max < res.P50 {
		t.Fatalf("result %+v", res)
	}
}

func TestRunRejectsBadOptions(t *testing.T) {
	if _, err := Run(context.Background(), Options{Dir: t.TempDir(), Ranks: 0, Delta: 10}); err == nil {
		t.Fatal("0 ranks accepted")
	}
}

// BenchmarkCollectiveTick: 4 and 16 reader ranks adopting deltas of 10 and
// 1,000 index entries; b.N is the number of measured ticks.
func BenchmarkCollectiveTick(b *testing.B) {
	for _, ranks := range []int{4, 16} {
		for _, delta := range []int{10, 1000} {
			b.Run(fmt.Sprintf("ranks=%d/delta=%d", ranks, delta), func(b *testing.B) {
				res, err := Run(context.Background(), Options{Dir: b.TempDir(), Ranks: ranks, Delta: delta, Iters: max(b.N, 2)})
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(res.P50, "p50-ms")
				b.ReportMetric(res.P99, "p99-ms")
				b.ReportMetric(res.Rank0P50, "rank0-p50-ms")
				b.ReportMetric(res.CPU, "cpu-p50-ms")
				b.ReportMetric(res.Delta, "entries/tick")
				b.ReportMetric(float64(res.Datasets), "datasets/tick")
				b.ReportMetric(float64(res.DeltaMin), "min-entries")
			})
		}
	}
}
