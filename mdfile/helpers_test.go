package mdfile

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"pwstore/vfs"
)

// testImage is the image a test writes for page at tick: the first 32
// bytes and the last 16 hold (page, tick) pairs, the rest is zeros (like
// a metadata page with a few fields and a checksum at its end), so a
// reader can tell which version it got and that the zeros between came
// back.
func testImage(page, tick uint64, npages int, ps int) []byte {
	b := make([]byte, npages*ps)
	for _, i := range []int{0, 16, len(b) - 16} {
		binary.LittleEndian.PutUint64(b[i:], page)
		binary.LittleEndian.PutUint64(b[i+8:], tick)
	}
	return b
}

// imageTick checks that b is testImage(page, tick) for some tick and
// returns that tick.
func imageTick(b []byte, page uint64) (uint64, error) {
	if len(b) < 48 {
		return 0, fmt.Errorf("image of %d bytes", len(b))
	}
	tick := binary.LittleEndian.Uint64(b[8:])
	want := testImage(page, tick, 1, len(b))
	if !bytes.Equal(b, want) {
		for i := range b {
			if b[i] != want[i] {
				return 0, fmt.Errorf("image of page %d, tick %d by its start: byte %d is %#x, want %#x", page, tick, i, b[i], want[i])
			}
		}
	}
	return tick, nil
}

// version is what the model knows of one index entry.
type version struct {
	tick   uint64
	npages int
}

// model is the index a test expects: page -> version.
type model map[uint64]version

func (m model) clone() model {
	c := make(model, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// randomTick makes a random update of m at tick: some changes (some
// multi-page, some with pages above 2^32) and some removals. Pages are
// spaced 8 apart so multi-page entries (up to 4 pages) never overlap.
func randomTick(rng *rand.Rand, m model, tick uint64, ps int, maxChanges int) ([]Image, []uint64) {
	seen := map[uint64]bool{}
	var changed []Image
	var removed []uint64
	for range rng.IntN(maxChanges + 1) {
		page := uint64(rng.IntN(200)) * 8
		if rng.IntN(4) == 0 {
			page += 1 << 33
		}
		if seen[page] {
			continue
		}
		seen[page] = true
		if _, ok := m[page]; ok && rng.IntN(5) == 0 {
			removed = append(removed, page)
			delete(m, page)
			continue
		}
		n := 1
		if rng.IntN(6) == 0 {
			n = 1 + rng.IntN(4)
		}
		changed = append(changed, Image{Page: page, Data: testImage(page, tick, n, ps)})
		m[page] = version{tick, n}
	}
	return changed, removed
}

// checkSnapshot verifies that snap holds exactly m and every image reads
// back as the version m names.
func checkSnapshot(r *Reader, snap *Snapshot, m model) error {
	if snap.Len() != len(m) {
		return fmt.Errorf("tick %d: %d entries, want %d", snap.Tick(), snap.Len(), len(m))
	}
	ps := int(snap.Header.PageSize)
	for _, e := range snap.Entries() {
		v, ok := m[e.Page]
		if !ok {
			return fmt.Errorf("tick %d: page %d in index, not expected", snap.Tick(), e.Page)
		}
		if e.Length != uint64(v.npages*ps) {
			return fmt.Errorf("tick %d: page %d length %d, want %d pages", snap.Tick(), e.Page, e.Length, v.npages)
		}
		b := make([]byte, e.Length)
		if err := r.ReadImage(e, b); err != nil {
			return err
		}
		got, err := imageTick(b, e.Page)
		if err != nil {
			return err
		}
		if got != v.tick {
			return fmt.Errorf("tick %d: page %d has the image of tick %d, want %d", snap.Tick(), e.Page, got, v.tick)
		}
		if f, ok := snap.Find(e.Page); !ok || f != e {
			return fmt.Errorf("tick %d: Find(%d) = %v, %v", snap.Tick(), e.Page, f, ok)
		}
	}
	return nil
}

func mdPath(t testing.TB) string { return filepath.Join(t.TempDir(), "test.pw.md") }

func mustCreate(t testing.TB, fsys vfs.FS, path string, opts WriterOptions) *Writer {
	t.Helper()
	w, err := Create(fsys, path, opts)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func mustOpen(t testing.TB, path string) *Reader {
	t.Helper()
	r, err := Open(vfs.OS, path, ReaderOptions{Wait: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}
