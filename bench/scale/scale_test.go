package scale

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// TestMessagesPerOp: at 16 ranks every operation costs O(N) deliveries,
// writer sync points and reader ticks at most 4N (issue 16).
func TestMessagesPerOp(t *testing.T) {
	const n = 16
	res, err := Run(context.Background(), Options{Dir: t.TempDir(), Ranks: n, Iters: 5})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		t.Logf("%-12s %4d ranks: %7.1f msgs (%.2f per rank), p50 %.2f ms, p99 %.2f ms", r.Op, r.Ranks, r.Msgs, r.PerN, r.P50, r.P99)
		limit := 2.0 * (n - 1) // one round up the tree, one publish down
		if r.Op == "end-of-tick" {
			limit = 4 * n // a sync point, then a barrier
		}
		if r.Msgs > limit+0.5 {
			t.Errorf("%s: %.1f messages per operation at %d ranks, want at most %.0f", r.Op, r.Msgs, n, limit)
		}
	}
}

var ranksFlag = flag.String("scale.ranks", "16,128,1024", "rank counts of BenchmarkScale")

// BenchmarkScale: every operation at every rank count of -scale.ranks;
// b.N is ignored beyond the iterations of one run (20).
//
//	go test -run XXX -bench Scale -benchtime 1x ./bench/scale/ -scale.ranks 16,128,1024
func BenchmarkScale(b *testing.B) {
	for _, s := range strings.Split(*ranksFlag, ",") {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatal(err)
		}
		res, err := Run(context.Background(), Options{Dir: b.TempDir(), Ranks: n, Iters: 20})
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range res {
			b.Run(fmt.Sprintf("%s/ranks=%d", r.Op, n), func(b *testing.B) {
				b.ReportMetric(r.Msgs, "msgs/op")
				b.ReportMetric(r.PerN, "msgs/rank")
				b.ReportMetric(r.P50, "p50-ms")
				b.ReportMetric(r.P99, "p99-ms")
			})
		}
	}
}
