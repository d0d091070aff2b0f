package mdfile

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"pwstore/vfs"
)

// benchWriter creates a writer holding an index of size one-page entries
// (pages 0..size-1), with 512-byte pages so a million images stay small.
func benchWriter(b *testing.B, size int) (*Writer, string) {
	b.Helper()
	const ps = 512
	path := mdPath(b)
	w := mustCreate(b, vfs.OS, path, WriterOptions{PageSize: ps})
	data := benchImages(1, ps)
	imgs := make([]Image, size)
	for i := range imgs {
		imgs[i] = Image{Page: uint64(i), Data: data}
	}
	if err := w.Update(1, imgs, nil); err != nil {
		b.Fatal(err)
	}
	return w, path
}

// benchImages returns n page images like the metadata pages the metadata
// file mostly holds: 120 bytes of fields, zeros, an 8-byte checksum.
func benchImages(n, ps int) []byte {
	b := make([]byte, n*ps)
	for i := range n {
		for j := range 120 {
			b[i*ps+j] = byte(i + j + 1)
		}
		for j := ps - 8; j < ps; j++ {
			b[i*ps+j] = byte(i ^ j | 1)
		}
	}
	return b
}

// spread returns n pages spread evenly over [0, size) from a random start:
// the worst case for the index, touching as many index pages as it can.
func spread(rng *rand.Rand, n, size int) []int {
	out := make([]int, n)
	stride := size / n
	start := rng.IntN(stride)
	for i := range out {
		out[i] = start + i*stride
	}
	return out
}

// BenchmarkUpdate measures one end of tick: n changed pages in an index
// of size entries. End-of-tick time must follow n, not size.
func BenchmarkUpdate(b *testing.B) {
	for _, size := range []int{1000, 1_000_000} {
		b.Run(fmt.Sprintf("index=%d", size), func(b *testing.B) {
			w, _ := benchWriter(b, size)
			defer w.Close(false)
			ps := int(w.ps)
			for _, n := range []int{10, 1000, 100_000} {
				if n > size {
					continue
				}
				b.Run(fmt.Sprintf("changed=%d", n), func(b *testing.B) {
					rng := rand.New(rand.NewPCG(1, uint64(n)))
					data := benchImages(n, ps)
					imgs := make([]Image, n)
					b.SetBytes(int64(n * ps))
					var written uint64
					b.ResetTimer()
					for range b.N {
						for i, p := range spread(rng, n, size) {
							imgs[i] = Image{Page: uint64(p), Data: data[i*ps : (i+1)*ps]}
						}
						if err := w.Update(w.Tick()+1, imgs, nil); err != nil {
							b.Fatal(err)
						}
						written += w.Stats().LastBytes
					}
					b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/eot")
					b.ReportMetric(float64(size), "entries")
					b.ReportMetric(float64(written)/float64(b.N), "mdbytes/eot")
				})
			}
		})
	}
}

// BenchmarkHeartbeat measures a heartbeat tick on a million-entry index.
func BenchmarkHeartbeat(b *testing.B) {
	w, _ := benchWriter(b, 1_000_000)
	defer func() { b.StopTimer(); w.Close(false) }()
	b.ResetTimer()
	for range b.N {
		if err := w.Heartbeat(w.Tick()+1, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/1e3/float64(b.N), "us/heartbeat")
}

// BenchmarkLoad measures a reader adopting a tick that changed 10 pages of
// a million-entry index (only changed index pages are read).
func BenchmarkLoad(b *testing.B) {
	const size, n = 1_000_000, 10
	w, path := benchWriter(b, size)
	defer func() { b.StopTimer(); w.Close(false) }()
	r := mustOpen(b, path)
	rng := rand.New(rand.NewPCG(2, 2))
	data := benchImages(1, int(w.ps))
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		var imgs []Image
		for _, p := range spread(rng, n, size) {
			imgs = append(imgs, Image{Page: uint64(p), Data: data})
		}
		if err := w.Update(w.Tick()+1, imgs, nil); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		snap, err := r.Load()
		if err != nil {
			b.Fatal(err)
		}
		if snap.Tick() != w.Tick() {
			b.Fatalf("loaded %d, writer at %d", snap.Tick(), w.Tick())
		}
	}
	b.ReportMetric(float64(size), "entries")
}

// BenchmarkUpdateRR measures an end of tick of round robin over 10,000
// datasets: 4 KiB pages, 20,000 entries, 6,000 of them changed per tick
// (a dataset header and a chunk-index root each for 3,000 appends).
func BenchmarkUpdateRR(b *testing.B) {
	const ps, size, n = 4096, 20_000, 6_000
	path := mdPath(b)
	w := mustCreate(b, vfs.OS, path, WriterOptions{PageSize: ps})
	defer w.Close(false)
	data := benchImages(size, ps)
	imgs := make([]Image, size)
	for i := range imgs {
		imgs[i] = Image{Page: uint64(i), Data: data[i*ps : (i+1)*ps]}
	}
	if err := w.Update(1, imgs, nil); err != nil {
		b.Fatal(err)
	}
	var written uint64
	b.ResetTimer()
	for i := range b.N {
		start := i * n % size
		batch := imgs[start:min(start+n, size)]
		if err := w.Update(w.Tick()+1, batch, nil); err != nil {
			b.Fatal(err)
		}
		written += w.Stats().LastBytes
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/eot")
	b.ReportMetric(float64(written)/float64(b.N), "mdbytes/eot")
	b.ReportMetric(float64(w.Stats().FileSize), "mdfile-bytes")
}

// BenchmarkZeroRun measures finding what to store of a 4 KiB metadata page
// (fields, zeros, a checksum at the end).
func BenchmarkZeroRun(b *testing.B) {
	const ps = 4096
	imgs := benchImages(64, ps)
	var stored int
	b.SetBytes(ps)
	for i := range b.N {
		k := i % 64
		h, t := zeroRun(imgs[k*ps : (k+1)*ps])
		stored += h + t
	}
	b.ReportMetric(float64(stored)/float64(b.N), "bytes/page")
}
