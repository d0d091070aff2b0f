package chunkindex

import (
	"math/rand/v2"
	"strconv"
	"testing"
)

// benchIndex builds an extensible array over [0, size) at 4 KiB pages:
// dense when small, else 20,000 random chunks plus the last one. It returns
// the chunks set, in a shuffled order for the loops to walk.
func benchIndex(b *testing.B, size uint64) (*memStore, *Extensible, []uint64) {
	st := newMemStore(4096)
	root, err := CreateExtensible(st)
	if err != nil {
		b.Fatal(err)
	}
	ix, err := OpenExtensible(st, root)
	if err != nil {
		b.Fatal(err)
	}
	rnd := rand.New(rand.NewPCG(size, 7))
	var idx []uint64
	if size <= 20000 {
		for i := range size {
			idx = append(idx, i)
		}
	} else {
		for range 20000 {
			idx = append(idx, rnd.Uint64N(size))
		}
		idx = append(idx, size-1)
	}
	for _, i := range idx {
		if err := ix.Set(i, rec(i)); err != nil {
			b.Fatal(err)
		}
	}
	rnd.Shuffle(len(idx), func(a, c int) { idx[a], idx[c] = idx[c], idx[a] })
	return st, ix, idx
}

var benchSizes = []uint64{1e3, 1e6, 1e8}

// BenchmarkGet reports Store reads per lookup ("reads/op", and the most any
// one lookup needed, "maxreads") for indexes of growing size.
func BenchmarkGet(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(strconv.FormatUint(size, 10), func(b *testing.B) {
			st, ix, idx := benchIndex(b, size)
			most := 0
			b.ResetTimer()
			st.reads = 0
			for n := 0; b.Loop(); n++ {
				i := idx[n%len(idx)]
				before := st.reads
				r, err := ix.Get(i)
				if err != nil || r != rec(i) {
					b.Fatalf("Get(%d) = %+v, %v", i, r, err)
				}
				most = max(most, st.reads-before)
			}
			b.ReportMetric(float64(st.reads)/float64(b.N), "reads/op")
			b.ReportMetric(float64(most), "maxreads")
		})
	}
}

// BenchmarkSet rewrites existing chunks' records: reads/op, and pages
// written per Set ("writes/op").
func BenchmarkSet(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(strconv.FormatUint(size, 10), func(b *testing.B) {
			st, ix, idx := benchIndex(b, size)
			b.ResetTimer()
			st.reads, st.writes, st.written = 0, 0, nil
			for n := 0; b.Loop(); n++ {
				i := idx[n%len(idx)]
				if err := ix.Set(i, Record{Addr: uint64(n) + 1, Size: i}); err != nil {
					b.Fatal(err)
				}
				st.written = st.written[:0]
			}
			b.ReportMetric(float64(st.reads)/float64(b.N), "reads/op")
			b.ReportMetric(float64(st.writes)/float64(b.N), "writes/op")
		})
	}
}

// BenchmarkAppend sets chunks 0, 1, 2, ... on a fresh array: the pattern of
// an unlimited dimension growing.
func BenchmarkAppend(b *testing.B) {
	st := newMemStore(4096)
	root, _ := CreateExtensible(st)
	ix, _ := OpenExtensible(st, root)
	st.reads, st.writes = 0, 0
	for n := uint64(0); b.Loop(); n++ {
		if err := ix.Set(n, rec(n)); err != nil {
			b.Fatal(err)
		}
		st.written = st.written[:0]
	}
	b.ReportMetric(float64(st.reads)/float64(b.N), "reads/op")
	b.ReportMetric(float64(st.writes)/float64(b.N), "writes/op")
}
