package chunkindex

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"testing"

	"github.com/cespare/xxhash/v2"

	"pwstore/vfs"
)

// memStore is the in-memory twin of pfile's Store. It is strict where the
// contract is: reading a page never written, a wrong fresh flag, or a Read
// image changed by its caller are errors, so tests catch the index doing so.
type memStore struct {
	pageSize  int
	next      uint64            // next page Alloc hands out; page 0 is never handed out
	pages     map[uint64][]byte // written images, one page each
	sums      map[uint64]uint64 // checksum of each image as written
	unwritten map[uint64]bool   // allocated, not written since
	allocs    []Extent          // every Alloc, in order
	released  []Extent          // every Release, in order
	reads     int               // Read calls
	writes    int               // pages written
	written   []uint64          // pages written, in order
}

func newMemStore(pageSize int) *memStore {
	return &memStore{
		pageSize:  pageSize,
		next:      1,
		pages:     map[uint64][]byte{},
		sums:      map[uint64]uint64{},
		unwritten: map[uint64]bool{},
	}
}

func (m *memStore) PageSize() int { return m.pageSize }

func (m *memStore) Read(page uint64, npages int) ([]byte, error) {
	m.reads++
	var out []byte
	for p := page; p < page+uint64(npages); p++ {
		b, ok := m.pages[p]
		if !ok {
			return nil, fmt.Errorf("memstore: read of page %d, never written", p)
		}
		if xxhash.Sum64(b) != m.sums[p] {
			return nil, fmt.Errorf("memstore: image of page %d was modified after Write", p)
		}
		if npages == 1 {
			return b, nil // the buffer's own slice, as the page buffer returns it
		}
		out = append(out, b...)
	}
	return out, nil
}

func (m *memStore) Write(page uint64, data []byte, fresh bool) error {
	if len(data) == 0 || len(data)%m.pageSize != 0 {
		return fmt.Errorf("memstore: write of %d bytes", len(data))
	}
	for off := 0; off < len(data); off += m.pageSize {
		p := page + uint64(off/m.pageSize)
		if p == 0 || p >= m.next {
			return fmt.Errorf("memstore: write of page %d, never allocated", p)
		}
		if fresh != m.unwritten[p] {
			return fmt.Errorf("memstore: write of page %d with fresh=%v, want %v", p, fresh, m.unwritten[p])
		}
		delete(m.unwritten, p)
		img := data[off : off+m.pageSize]
		m.pages[p] = img
		m.sums[p] = xxhash.Sum64(img)
		m.writes++
		m.written = append(m.written, p)
	}
	return nil
}

func (m *memStore) Alloc(npages int) (uint64, error) {
	if npages < 1 {
		return 0, fmt.Errorf("memstore: alloc of %d pages", npages)
	}
	p := m.next
	m.next += uint64(npages)
	for q := p; q < m.next; q++ {
		m.unwritten[q] = true
	}
	m.allocs = append(m.allocs, Extent{Page: p, NPages: npages})
	return p, nil
}

func (m *memStore) Release(page uint64, npages int) {
	m.released = append(m.released, Extent{Page: page, NPages: npages})
}

// poke replaces a page image behind the index's back (corruption tests).
func (m *memStore) poke(page uint64, b []byte) {
	m.pages[page] = b
	m.sums[page] = xxhash.Sum64(b)
}

// fileStore keeps pages in a real file, the way pfile keeps them in the data
// file: page p at byte offset p*pageSize.
type fileStore struct {
	f        vfs.File
	pageSize int
	next     uint64
	reads    int
}

func newFileStore(t testing.TB, pageSize int) *fileStore {
	t.Helper()
	f, err := vfs.OS.Create(filepath.Join(t.TempDir(), "index.pw"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return &fileStore{f: f, pageSize: pageSize, next: 1}
}

// reopenFileStore opens the same file again read-only, as a reader would.
func reopenFileStore(t testing.TB, fs *fileStore) *fileStore {
	t.Helper()
	f, err := vfs.OS.Open(fs.f.Name())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return &fileStore{f: f, pageSize: fs.pageSize}
}

func (s *fileStore) PageSize() int { return s.pageSize }

func (s *fileStore) Read(page uint64, npages int) ([]byte, error) {
	s.reads++
	b := make([]byte, npages*s.pageSize)
	n, err := s.f.ReadAt(b, int64(page)*int64(s.pageSize))
	if err == io.EOF && n == len(b) {
		err = nil
	}
	if err != nil {
		return nil, fmt.Errorf("filestore: read page %d: %w", page, err)
	}
	return b, nil
}

func (s *fileStore) Write(page uint64, data []byte, fresh bool) error {
	_, err := s.f.WriteAt(data, int64(page)*int64(s.pageSize))
	return err
}

func (s *fileStore) Alloc(npages int) (uint64, error) {
	if s.next == 0 {
		return 0, errors.New("filestore: read-only")
	}
	p := s.next
	s.next += uint64(npages)
	return p, nil
}

func (s *fileStore) Release(uint64, int) {}

// readOnly is a reader's Store: it refuses to change anything.
type readOnly struct{ Store }

var errReadOnly = errors.New("read-only store")

func (readOnly) Write(uint64, []byte, bool) error { return errReadOnly }
func (readOnly) Alloc(int) (uint64, error)        { return 0, errReadOnly }
func (readOnly) Release(uint64, int)              {}
