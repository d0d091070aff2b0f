package pagebuf

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// snapshotBackend serves the images of the tick the reader has adopted, as a
// SWMR reader's backend (index, metadata file, data file) would.
type snapshotBackend struct {
	size    map[uint64]int // entry first page -> pages
	content map[uint64][]byte
}

func (s *snapshotBackend) ReadPages(page uint64, p []byte) error {
	n, ok := s.size[page]
	if !ok || len(p) != n*ps {
		return fmt.Errorf("read of %d bytes at page %d, no such entry", len(p), page)
	}
	copy(p, s.content[page])
	return nil
}

func (snapshotBackend) WritePages(page uint64, _ []byte) error {
	return fmt.Errorf("reader wrote page %d", page)
}

// A reader following a writer tick by tick (sometimes skipping ticks) always
// reads the images of the tick it adopted, as long as it invalidates what
// each new index lists as changed.
func TestReaderRandomized(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	be := &snapshotBackend{size: map[uint64]int{}, content: map[uint64][]byte{}}
	var keys []uint64
	for p := uint64(0); p < 40; {
		n := 1
		if len(keys)%8 == 7 {
			n = 3
		}
		be.size[p] = n
		be.content[p] = img(ps, p, n, 0)
		keys = append(keys, p)
		p += uint64(n)
	}
	b := reader(t, 6, be)
	var hooked []uint64
	b.SetEvictHook(func(p []uint64) { hooked = append(hooked, p...) })
	version := 0
	for op := 0; op < 30_000; op++ {
		switch r := rng.IntN(10); {
		case r < 7:
			k := keys[rng.IntN(len(keys))]
			got, err := b.Read(k, be.size[k])
			if err != nil {
				t.Fatalf("op %d: %v", op, err)
			}
			if !bytes.Equal(got, be.content[k]) {
				t.Fatalf("op %d: entry %d is stale", op, k)
			}
		default:
			// The writer ends 1-3 ticks; the reader adopts the last one.
			changed := map[uint64]bool{}
			for range 1 + rng.IntN(3) {
				for range rng.IntN(5) {
					changed[keys[rng.IntN(len(keys))]] = true
				}
			}
			var listed []uint64
			for k := range changed {
				version++
				be.content[k] = img(ps, k, be.size[k], version)
				// An index may name any page of a multi-page entry.
				listed = append(listed, k+uint64(rng.IntN(be.size[k])))
			}
			// Sorted, a list longer than the entries held is looked up
			// entry by entry (invalidateHeld); unsorted, page by page.
			if rng.IntN(2) == 0 {
				slices.Sort(listed)
			}
			hooked = hooked[:0]
			gone := b.Invalidate(listed)
			for _, k := range gone {
				if !changed[k] {
					t.Fatalf("op %d: invalidated %d, which did not change", op, k)
				}
			}
			if !slices.Equal(gone, hooked) {
				t.Fatalf("op %d: hook saw %v, Invalidate returned %v", op, hooked, gone)
			}
		}
		if err := b.CheckInvariants(); err != nil {
			t.Fatalf("op %d: %v", op, err)
		}
	}
	if st := b.Stats(); st.Invalidations == 0 || st.Evictions == 0 || st.Hits == 0 || st.MultiPageEntries+st.MaxMultiPageEntries == 0 {
		t.Fatalf("sequence too tame: %+v", st)
	}
}
