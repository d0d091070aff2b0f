package collective

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"pwstore/internal/infra/natsd"
)

// The benchmarks run n goroutine ranks, each with its own NATS connection
// to an embedded server on loopback, and report the latency percentiles of
// one collective as rank 0 sees it. For Bcast from rank 0 that is the time
// until every rank has the data (rank 0 returns on the last ack).

func benchComms(b *testing.B, n int) []Comm {
	b.Helper()
	s := startServer(b, natsd.Options{})
	comms, err := openAll(context.Background(), n, Config{Job: "bench", URL: s.URL(), Timeout: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { closeAll(comms) })
	return comms
}

// runBench runs op b.N times on every rank and reports rank 0's p50 and
// p99 in milliseconds.
func runBench(b *testing.B, comms []Comm, op func(c Comm) error) {
	lat := make([]time.Duration, 0, b.N)
	var wg sync.WaitGroup
	errs := make([]error, len(comms))
	b.ResetTimer()
	for r, c := range comms {
		wg.Go(func() {
			for range b.N {
				start := time.Now()
				if err := op(c); err != nil {
					errs[r] = err
					return
				}
				if r == 0 {
					lat = append(lat, time.Since(start))
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	for r, err := range errs {
		if err != nil {
			b.Fatalf("rank %d: %v", r, err)
		}
	}
	slices.Sort(lat)
	ms := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))]) / 1e6 }
	b.ReportMetric(ms(0.5), "p50-ms")
	b.ReportMetric(ms(0.99), "p99-ms")
}

// BenchmarkBcast32K: a 32 KB broadcast, the size of a 1,000-entry index
// delta of the collective reader tick.
func BenchmarkBcast32K(b *testing.B) {
	data := payload(0, 0, 32<<10)
	for _, n := range []int{4, 16} {
		b.Run(fmt.Sprintf("ranks=%d", n), func(b *testing.B) {
			comms := benchComms(b, n)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			runBench(b, comms, func(c Comm) error {
				var in []byte
				if c.Rank() == 0 {
					in = data
				}
				_, err := c.Bcast(context.Background(), 0, in)
				return err
			})
		})
	}
}

func BenchmarkBarrier(b *testing.B) {
	for _, n := range []int{4, 16} {
		b.Run(fmt.Sprintf("ranks=%d", n), func(b *testing.B) {
			comms := benchComms(b, n)
			b.ReportAllocs()
			runBench(b, comms, func(c Comm) error { return c.Barrier(context.Background()) })
		})
	}
}
