package pfile

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

func manyPath(i int) string { return fmt.Sprintf("/run/g%03d/ds%05d", i%97, i) }

// buildMany creates n one-dimensional unlimited datasets and appends
// rounds elements to each, round-robin; element j of dataset i is i*1000+j.
func buildMany(t testing.TB, path string, n, rounds int) {
	t.Helper()
	h := createFile(t, path, Options{})
	dss := make([]*Dataset, n)
	for i := range n {
		ds, err := h.f.CreateDataset(manyPath(i), Spec{Type: Uint64, Shape: []uint64{0}, MaxShape: []uint64{Unlimited}, Chunk: []uint64{4}})
		if err != nil {
			t.Fatal(err)
		}
		dss[i] = ds
	}
	var v [8]byte
	for j := range uint64(rounds) {
		for i, ds := range dss {
			if err := ds.Extend(j + 1); err != nil {
				t.Fatal(err)
			}
			binary.LittleEndian.PutUint64(v[:], uint64(i)*1000+j)
			if err := ds.WriteSlab([]uint64{j}, []uint64{1}, v[:]); err != nil {
				t.Fatal(err)
			}
		}
	}
	h.close(t)
}

// TestManyDatasets: 10,000 datasets appended round-robin, reopened,
// listed in order, sampled, checked.
func TestManyDatasets(t *testing.T) {
	n, rounds := 10000, 5
	if testing.Short() {
		n = 1000
	}
	path := tempPath(t, "many.pw")
	buildMany(t, path, n, rounds)
	r := mustOpen(t, path, true)
	paths, err := r.f.Paths()
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != n {
		t.Fatalf("%d paths listed, want %d", len(paths), n)
	}
	for i := 1; i < len(paths); i++ {
		if paths[i-1] >= paths[i] {
			t.Fatalf("listing out of order at %d: %q, %q", i, paths[i-1], paths[i])
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 300 {
		i := rng.IntN(n)
		ds, err := r.f.Dataset(manyPath(i))
		if err != nil {
			t.Fatal(err)
		}
		got := make([]byte, 8*rounds)
		if err := ds.ReadSlab([]uint64{0}, []uint64{uint64(rounds)}, got); err != nil {
			t.Fatal(err)
		}
		for j := range rounds {
			if v := binary.LittleEndian.Uint64(got[8*j:]); v != uint64(i)*1000+uint64(j) {
				t.Fatalf("%s[%d] = %d", manyPath(i), j, v)
			}
		}
	}
	if _, err := r.f.Dataset("/run/none"); err == nil {
		t.Fatal("missing dataset found")
	}
	infos, err := r.f.Datasets()
	if err != nil || len(infos) != n || infos[0].Spec.Shape[0] != uint64(rounds) {
		t.Fatalf("Datasets: %d infos, err %v", len(infos), err)
	}
	if err := r.f.Check(CheckOptions{Closed: true}); err != nil {
		t.Fatal(err)
	}
}

// TestIndexPagesTogether: the chunk-index roots of datasets that grow past
// one chunk one after another lie on adjacent pages (blocks of doubling
// size), so that roots changed together reach the data file in one write;
// the unused end of the last block is free space once the file is closed,
// and the file checks whole.
func TestIndexPagesTogether(t *testing.T) {
	path := tempPath(t, "idx.pw")
	h := createFile(t, path, Options{PageSize: 512})
	var roots []uint64
	for i := range 20 {
		ds, err := h.f.CreateDataset(fmt.Sprintf("/d%02d", i), Spec{Type: Int32, Shape: []uint64{0}, MaxShape: []uint64{Unlimited}, Chunk: []uint64{8}})
		if err != nil {
			t.Fatal(err)
		}
		if ds.h.index != 0 {
			t.Fatalf("an empty dataset has a chunk index at page %d", ds.h.index)
		}
		if err := ds.Extend(9); err != nil { // two chunks: its index is made
			t.Fatal(err)
		}
		roots = append(roots, ds.h.index)
	}
	// Blocks of 1, 2, 4, 8 and 16 pages: datasets 7 to 14 share one.
	for i := 7; i < 14; i++ {
		if roots[i+1] != roots[i]+1 {
			t.Fatalf("roots %v: %d and %d not adjacent", roots, i, i+1)
		}
	}
	if err := h.f.Check(CheckOptions{}); err != nil {
		t.Fatal(err)
	}
	h.close(t)
	r := mustOpen(t, path, true)
	sb := r.f.Superblock()
	free, err := r.f.loadFreeList(ref{sb.FreeList, sb.FreePages})
	if sb.FreeList == 0 || err != nil {
		t.Fatalf("no free list after close (%v): the unused index pages are lost", err)
	}
	// Datasets 15 to 19 used 5 pages of the last block of 16.
	want := extent{roots[19] + 1, 11}
	if !slices.Contains(free, want) {
		t.Fatalf("free list %v lacks the block's unused end %v", free, want)
	}
	if err := r.f.Check(CheckOptions{Closed: true}); err != nil {
		t.Fatal(err)
	}
	r.close(t)
	w := mustOpen(t, path, false) // a writer takes the free list over
	if err := w.f.Check(CheckOptions{Closed: true}); err != nil {
		t.Fatal(err)
	}
	w.close(t)
}
