package coord_test

import (
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkClose: one op is the Close of a round-robin file of 1,000
// datasets (100 ms ticks, max lag 10) just after three passes of appends
// ended their tick, with a reader following: their pages are still
// delayed. Close used to wait out the delays (up to max_lag ticks); now it
// publishes one tick, marks the file finalising and writes them.
func BenchmarkClose(b *testing.B) {
	const datasets = 1000
	var total time.Duration
	for range b.N {
		b.StopTimer()
		path := filepath.Join(b.TempDir(), "close.pw")
		w, ds := rrWriter(b, path, datasets)
		stop := make(chan struct{})
		wait := follow(b, path, stop)
		appendPasses(b, w, ds, 3)
		b.StartTimer()
		start := time.Now()
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		b.StopTimer()
		close(stop)
		wait()
		b.StartTimer()
	}
	b.ReportMetric(total.Seconds()*1000/float64(b.N), "close-ms")
}
