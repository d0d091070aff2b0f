package pagebuf

import (
	"fmt"
	"testing"
	"time"
)

const benchPage = 4096

// nullBackend discards writes and serves zeros, so a benchmark measures the
// buffer's own work.
type nullBackend struct{}

func (nullBackend) ReadPages(uint64, []byte) error  { return nil }
func (nullBackend) WritePages(uint64, []byte) error { return nil }

func BenchmarkReadHit(b *testing.B) {
	buf, err := New(Config{PageSize: benchPage, MaxPages: 1024}, nullBackend{})
	if err != nil {
		b.Fatal(err)
	}
	for p := uint64(0); p < 1024; p++ {
		if _, err := buf.Read(p, 1); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(benchPage)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := buf.Read(uint64(i)&1023, 1); err != nil {
			b.Fatal(err)
		}
	}
}

// Every read misses and loads a 4 KiB page from a real file (in the page
// cache), evicting a clean page.
func BenchmarkReadMissLoad(b *testing.B) {
	const filePages = 4096
	fb := newFileBackend(b, benchPage)
	for p := uint64(0); p < filePages; p++ {
		if err := fb.WritePages(p, img(benchPage, p, 1, 0)); err != nil {
			b.Fatal(err)
		}
	}
	buf, err := New(Config{PageSize: benchPage, MaxPages: 64}, fb)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(benchPage)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := buf.Read(uint64(i)%filePages, 1); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if st := buf.Stats(); st.Hits != 0 {
		b.Fatalf("%d hits in a miss benchmark", st.Hits)
	}
}

// EndTick with n changed pages (half fresh, half existing and delayed); the
// writes that fill the tick are not timed. Write-backs of earlier ticks'
// pages happen inside EndTick and are timed (to a discarding backend).
func BenchmarkEndTick(b *testing.B) {
	for _, n := range []int{10, 10_000} {
		b.Run(fmt.Sprintf("pages=%d", n), func(b *testing.B) {
			buf, err := New(Config{PageSize: benchPage, MaxPages: 4 * n, Mode: SWMRWriter, MaxLag: 3}, nullBackend{})
			if err != nil {
				b.Fatal(err)
			}
			images := make([][]byte, n)
			for i := range images {
				images[i] = make([]byte, benchPage)
			}
			var inEOT time.Duration
			b.SetBytes(int64(n) * benchPage)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				for j := 0; j < n; j++ {
					if err := buf.Write(uint64(j), images[j], j%2 == 0); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
				t0 := time.Now()
				res, err := buf.EndTick(buf.Tick())
				inEOT += time.Since(t0)
				if err != nil || len(res.Changes) != n {
					b.Fatalf("%d changes, %v", len(res.Changes), err)
				}
			}
			b.ReportMetric(float64(inEOT.Nanoseconds())/float64(b.N), "ns/endtick")
			b.ReportMetric(float64(inEOT.Nanoseconds())/float64(b.N)/float64(n), "ns/page")
		})
	}
}
