package pfile

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"
)

// Benchmarks that show catalog and chunk lookups stay logarithmic or
// constant as the file grows. "reads/op" counts page-buffer accesses per
// lookup; "cold" drops the decoded nodes before every lookup so each one
// goes through the page buffer. The page buffer holds 4096 pages (16 MiB).

const benchBufPages = 4096

func benchOpen(b *testing.B, path string) *handle {
	h, err := openFileCap(b, path, true, benchBufPages)
	if err != nil {
		b.Fatal(err)
	}
	return h
}

func BenchmarkCatalogLookup(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		path := tempPath(b, "cat.pw")
		h := createFileCap(b, path, Options{}, benchBufPages)
		for i := range n {
			if _, err := h.f.CreateDataset(manyPath(i), Spec{Type: Int8, Shape: []uint64{1}}); err != nil {
				b.Fatal(err)
			}
		}
		h.close(b)
		for _, cold := range []bool{false, true} {
			name := fmt.Sprintf("datasets=%d/warm", n)
			if cold {
				name = fmt.Sprintf("datasets=%d/cold", n)
			}
			b.Run(name, func(b *testing.B) {
				r := benchOpen(b, path)
				rng := rand.New(rand.NewPCG(1, 2))
				before := r.buf.Stats().Accesses
				b.ResetTimer()
				for range b.N {
					if cold {
						r.f.Evicted(nil)
					}
					if _, ok, err := r.f.lookup(manyPath(rng.IntN(n))); err != nil || !ok {
						b.Fatal("lookup failed", err)
					}
				}
				b.ReportMetric(float64(r.buf.Stats().Accesses-before)/float64(b.N), "reads/op")
			})
		}
	}
}

func BenchmarkChunkLookup(b *testing.B) {
	for _, n := range []uint64{100, 10000, 1000000} {
		path := tempPath(b, "chunks.pw")
		h := createFileCap(b, path, Options{}, benchBufPages)
		if _, err := h.f.CreateDataset("/c", Spec{Type: Uint64, Shape: []uint64{n}, MaxShape: []uint64{Unlimited}, Chunk: []uint64{1}}); err != nil {
			b.Fatal(err)
		}
		h.close(b)
		b.Run(fmt.Sprintf("chunks=%d", n), func(b *testing.B) {
			r := benchOpen(b, path)
			ds, err := r.f.Dataset("/c")
			if err != nil {
				b.Fatal(err)
			}
			idx, err := ds.index()
			if err != nil {
				b.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			before := r.buf.Stats().Accesses
			b.ResetTimer()
			for range b.N {
				if rec, err := idx.Get(rng.Uint64N(n)); err != nil || rec.Addr == 0 {
					b.Fatal("get failed", err)
				}
			}
			b.ReportMetric(float64(r.buf.Stats().Accesses-before)/float64(b.N), "reads/op")
		})
	}
}

// BenchmarkRoundRobinAppend appends one element to each of n datasets in
// turn (extend + write): the RFC's round-robin workload, plain mode.
func BenchmarkRoundRobinAppend(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("datasets=%d", n), func(b *testing.B) {
			h := createFileCap(b, tempPath(b, "rr.pw"), Options{}, benchBufPages)
			dss := make([]*Dataset, n)
			for i := range n {
				ds, err := h.f.CreateDataset(manyPath(i), Spec{Type: Uint64, Shape: []uint64{0}, MaxShape: []uint64{Unlimited}, Chunk: []uint64{64}})
				if err != nil {
					b.Fatal(err)
				}
				dss[i] = ds
			}
			var v [8]byte
			b.ResetTimer()
			for k := range b.N {
				ds := dss[k%n]
				j := uint64(k / n)
				if err := ds.Extend(j + 1); err != nil {
					b.Fatal(err)
				}
				binary.LittleEndian.PutUint64(v[:], j)
				if err := ds.WriteSlab([]uint64{j}, []uint64{1}, v[:]); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			h.close(b)
		})
	}
}

// BenchmarkFlushRaw: the chunk cache's write-back at an end of tick in
// round robin: one element appended to each of n int32 datasets (chunks of
// 1,024 elements, 4 KiB apart in the file), then FlushRaw, by one of
// several ranks (each chunk its own write) and by a sole writer (runs of
// mirrors). Only FlushRaw is timed; "ns/chunk" is its time per chunk
// written back.
func BenchmarkFlushRaw(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		for _, sole := range []bool{false, true} {
			b.Run(fmt.Sprintf("datasets=%d/sole=%v", n, sole), func(b *testing.B) { flushRaw(b, n, sole) })
		}
	}
}

func flushRaw(b *testing.B, n int, sole bool) {
	h := createFileCap(b, tempPath(b, "flush.pw"), Options{DeferSeal: true, SoleWriter: sole}, benchBufPages)
	dss := make([]*Dataset, n)
	for i := range n {
		ds, err := h.f.CreateDataset(manyPath(i), Spec{Type: Int32, Shape: []uint64{0}, MaxShape: []uint64{Unlimited}, Chunk: []uint64{1024}})
		if err != nil {
			b.Fatal(err)
		}
		dss[i] = ds
	}
	var v [4]byte
	b.ResetTimer()
	for j := range uint64(b.N) {
		b.StopTimer()
		for _, ds := range dss {
			if err := ds.Extend(j + 1); err != nil {
				b.Fatal(err)
			}
			binary.LittleEndian.PutUint32(v[:], uint32(j))
			if err := ds.WriteSlab([]uint64{j}, []uint64{1}, v[:]); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		if err := h.f.FlushRaw(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/chunk")
	h.close(b)
}
