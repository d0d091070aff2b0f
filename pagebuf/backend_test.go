package pagebuf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"testing"

	"pwstore/vfs"
)

// memBackend is an in-memory data file that records every write with the
// tick the test says is published at that moment.
type memBackend struct {
	pageSize  int
	pages     map[uint64][]byte // page -> image of that one page
	published uint64            // the last tick whose index is published
	writes    []writeRec
	reads     int
	check     func(page uint64, p []byte) error // vets each write before it lands
	failWrite error
	failRead  error
}

type writeRec struct {
	page      uint64
	npages    int
	published uint64
	data      []byte
}

func newMem(pageSize int) *memBackend {
	return &memBackend{pageSize: pageSize, pages: make(map[uint64][]byte)}
}

func (m *memBackend) ReadPages(page uint64, p []byte) error {
	if m.failRead != nil {
		return m.failRead
	}
	m.reads++
	for i := 0; i*m.pageSize < len(p); i++ {
		dst := p[i*m.pageSize : (i+1)*m.pageSize]
		if src, ok := m.pages[page+uint64(i)]; ok {
			copy(dst, src)
		} else {
			clear(dst)
		}
	}
	return nil
}

func (m *memBackend) WritePages(page uint64, p []byte) error {
	if m.failWrite != nil {
		return m.failWrite
	}
	if m.check != nil {
		if err := m.check(page, p); err != nil {
			return err
		}
	}
	m.writes = append(m.writes, writeRec{page, len(p) / m.pageSize, m.published, bytes.Clone(p)})
	m.put(page, p)
	return nil
}

func (m *memBackend) put(page uint64, p []byte) {
	for i := 0; i*m.pageSize < len(p); i++ {
		m.pages[page+uint64(i)] = bytes.Clone(p[i*m.pageSize : (i+1)*m.pageSize])
	}
}

// image returns what the data file holds for npages pages at page.
func (m *memBackend) image(page uint64, npages int) []byte {
	p := make([]byte, npages*m.pageSize)
	for i := 0; i < npages; i++ {
		copy(p[i*m.pageSize:], m.pages[page+uint64(i)])
	}
	return p
}

// writesTo returns the writes of the entry at page.
func (m *memBackend) writesTo(page uint64) []writeRec {
	var out []writeRec
	for _, w := range m.writes {
		if w.page == page {
			out = append(out, w)
		}
	}
	return out
}

// fileBackend is a real data file.
type fileBackend struct {
	f        vfs.File
	pageSize int
}

func newFileBackend(tb testing.TB, pageSize int) *fileBackend {
	tb.Helper()
	f, err := vfs.OS.Create(filepath.Join(tb.TempDir(), "data.pw"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.Close() })
	return &fileBackend{f: f, pageSize: pageSize}
}

func (fb *fileBackend) ReadPages(page uint64, p []byte) error {
	n, err := fb.f.ReadAt(p, int64(page)*int64(fb.pageSize))
	if errors.Is(err, io.EOF) {
		clear(p[n:]) // beyond the end of the file: never written
		return nil
	}
	return err
}

func (fb *fileBackend) WritePages(page uint64, p []byte) error {
	_, err := fb.f.WriteAt(p, int64(page)*int64(fb.pageSize))
	return err
}

// img makes an image of npages pages whose bytes name the page and a version.
func img(pageSize int, page uint64, npages, version int) []byte {
	p := make([]byte, npages*pageSize)
	copy(p, fmt.Sprintf("page %d version %d|", page, version))
	for i := 32; i < len(p); i++ {
		p[i] = byte(int(page)*7 + version*13 + i)
	}
	return p
}
