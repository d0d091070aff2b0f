package pfile

import (
	"bytes"
	"fmt"
	"os"
	"testing"

	"pwstore/pagebuf"
	"pwstore/vfs"
)

// workload makes the same collective calls on any File: datasets of
// several kinds, extends, attributes, raw writes of rank's share.
func workload(t testing.TB, f *File, rank, ranks int) {
	t.Helper()
	specs := []Spec{
		{Type: Float64, Shape: []uint64{0, 6}, MaxShape: []uint64{Unlimited, 6}, Chunk: []uint64{2, 6}},
		{Type: Int16, Shape: []uint64{5, 5, 5}, Chunk: []uint64{2, 3, 5}},
		{Type: Bytes(5), Shape: []uint64{0}, MaxShape: []uint64{Unlimited}, Chunk: []uint64{7}},
	}
	var dss []*Dataset
	for i, s := range specs {
		ds, err := f.CreateDataset(fmt.Sprintf("/field/%d", i), s)
		if err != nil {
			t.Fatal(err)
		}
		dss = append(dss, ds)
	}
	for step := uint64(1); step <= 5; step++ {
		for i, ds := range dss {
			shape, _ := ds.Shape()
			if specs[i].MaxShape != nil && specs[i].MaxShape[0] == Unlimited {
				if err := ds.Extend(step * 3); err != nil {
					t.Fatal(err)
				}
				shape[0] = step * 3
			}
			// Each rank writes the elements whose last coordinate it owns
			// (round robin): ranks share every chunk.
			m := newModel(shape, specs[i].Type.Size())
			r := len(shape)
			for j := uint64(rank); j < shape[r-1]; j += uint64(ranks) {
				start, count := make([]uint64, r), clip(shape)
				start[r-1], count[r-1] = j, 1
				if total(count) == 0 {
					continue
				}
				if err := ds.WriteSlab(start, count, m.slab(uint64(i), start, count)); err != nil {
					t.Fatal(err)
				}
			}
			if err := ds.SetAttr("step", UintValue(step)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestDeterministic: two writers making the same calls with the same id
// produce byte-identical data files.
func TestDeterministic(t *testing.T) {
	id := [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	var images [][]byte
	for _, name := range []string{"a.pw", "b.pw"} {
		path := tempPath(t, name)
		h := createFile(t, path, Options{ID: id, PageSize: 1024})
		workload(t, h.f, 0, 1)
		h.close(t)
		checkClosed(t, path)
		img, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		images = append(images, img)
	}
	if len(images[0]) == 0 || !bytes.Equal(images[0], images[1]) {
		t.Fatalf("files differ: %d and %d bytes", len(images[0]), len(images[1]))
	}
	sb, err := DecodeSuperblock(images[0][:1024])
	if err != nil || sb.ID != id {
		t.Fatalf("superblock id %x (%v), want %x", sb.ID, err, id)
	}
}

// discardBackend is a non-zero rank's page buffer backend: rank 0 alone
// writes metadata; the others keep what they need in memory.
type discardBackend struct{ pages map[uint64][]byte }

func (d discardBackend) ReadPages(page uint64, p []byte) error {
	for i := 0; i < len(p); i += DefaultPageSize {
		copy(p[i:], d.pages[page+uint64(i/DefaultPageSize)])
	}
	return nil
}

func (d discardBackend) WritePages(page uint64, p []byte) error {
	for i := 0; i < len(p); i += DefaultPageSize {
		d.pages[page+uint64(i/DefaultPageSize)] = bytes.Clone(p[i : i+DefaultPageSize])
	}
	return nil
}

// TestRanksShareChunks: ranks make the same metadata calls and write
// disjoint elements of the same chunks to one data file; every rank's
// bytes survive, and the ranks' metadata streams are identical.
func TestRanksShareChunks(t *testing.T) {
	const ranks = 3
	path := tempPath(t, "par.pw")
	id := [16]byte{42}
	var hs []*handle
	for rank := range ranks {
		var raw vfs.File
		var err error
		if rank == 0 {
			raw, err = vfs.OS.Create(path)
		} else {
			raw, err = vfs.OS.OpenRW(path)
		}
		if err != nil {
			t.Fatal(err)
		}
		var back pagebuf.Backend = fileBackend{raw, DefaultPageSize}
		if rank > 0 {
			back = discardBackend{map[uint64][]byte{}}
		}
		buf, err := pagebuf.New(pagebuf.Config{PageSize: DefaultPageSize, MaxPages: bufPages}, back)
		if err != nil {
			t.Fatal(err)
		}
		f, err := Create(buf, raw, Options{ID: id, RawCacheBytes: 1 << 10})
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, &handle{path, raw, buf, f})
	}
	// Interleave the ranks call by call would need goroutines; running
	// them one after the other is the worst case for overwrites.
	for rank, h := range hs {
		workload(t, h.f, rank, ranks)
	}
	d0, _ := hs[0].buf.Stream()
	for rank, h := range hs {
		if d, _ := h.buf.Stream(); d != d0 {
			t.Fatalf("rank %d's metadata stream digest %x differs from rank 0's %x", rank, d, d0)
		}
		if err := h.f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	for _, h := range hs {
		if _, err := h.buf.Flush(); err != nil {
			t.Fatal(err)
		}
		h.raw.Close()
	}
	// Every element was written by exactly one rank: the whole must read
	// back as one writer would have written it.
	single := tempPath(t, "single.pw")
	s := createFile(t, single, Options{ID: id})
	workload(t, s.f, 0, 1)
	s.close(t)
	a, b := mustOpen(t, path, true), mustOpen(t, single, true)
	paths, err := b.f.Paths()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		da, err := a.f.Dataset(p)
		if err != nil {
			t.Fatal(err)
		}
		db, _ := b.f.Dataset(p)
		spec, _ := db.Spec()
		n := total(spec.Shape) * uint64(spec.Type.Size())
		ga, gb := make([]byte, n), make([]byte, n)
		zero := make([]uint64, len(spec.Shape))
		if err := da.ReadSlab(zero, spec.Shape, ga); err != nil {
			t.Fatal(err)
		}
		if err := db.ReadSlab(zero, spec.Shape, gb); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ga, gb) {
			t.Fatalf("%s: ranks' shared chunks lost bytes", p)
		}
		if bytes.Count(gb, []byte{0}) == len(gb) {
			t.Fatalf("%s: nothing written", p)
		}
	}
	if err := a.f.Check(CheckOptions{Closed: true}); err != nil {
		t.Fatal(err)
	}
}
