package pfile

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
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
