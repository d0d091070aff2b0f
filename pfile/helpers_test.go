package pfile

import (
	"encoding/binary"
	"path/filepath"
	"testing"

	"pwstore/pagebuf"
	"pwstore/vfs"
)

// fileBackend is the page buffer's backend for a plain data file.
type fileBackend struct {
	f  vfs.File
	ps int
}

func (b fileBackend) ReadPages(page uint64, p []byte) error {
	return vfs.ReadFull(b.f, p, int64(page)*int64(b.ps))
}

func (b fileBackend) WritePages(page uint64, p []byte) error {
	_, err := b.f.WriteAt(p, int64(page)*int64(b.ps))
	return err
}

// handle is a data file opened the way the coordinator does it: a real
// file, a real page buffer over it, a File over both.
type handle struct {
	path string
	raw  vfs.File
	buf  *pagebuf.Buffer
	f    *File
}

// bufPages is small so that tests evict and reload pages.
const bufPages = 64

func newBuffer(t testing.TB, raw vfs.File, ps int, mode pagebuf.Mode) *pagebuf.Buffer {
	return newBufferCap(t, raw, ps, mode, bufPages)
}

func newBufferCap(t testing.TB, raw vfs.File, ps int, mode pagebuf.Mode, capacity int) *pagebuf.Buffer {
	t.Helper()
	buf, err := pagebuf.New(pagebuf.Config{PageSize: ps, MaxPages: capacity, Mode: mode}, fileBackend{raw, ps})
	if err != nil {
		t.Fatal(err)
	}
	return buf
}

func createFile(t testing.TB, path string, opts Options) *handle {
	t.Helper()
	return createFileCap(t, path, opts, bufPages)
}

// createFileCap is createFile with a page buffer of capacity pages.
func createFileCap(t testing.TB, path string, opts Options, capacity int) *handle {
	t.Helper()
	raw, err := vfs.OS.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	ps := opts.PageSize
	if ps == 0 {
		ps = DefaultPageSize
	}
	buf := newBufferCap(t, raw, ps, pagebuf.Plain, capacity)
	f, err := Create(buf, raw, opts)
	if err != nil {
		t.Fatal(err)
	}
	buf.SetEvictHook(f.Evicted)
	return &handle{path, raw, buf, f}
}

func tempPath(t testing.TB, name string) string { return filepath.Join(t.TempDir(), name) }

// openFile opens path through a Plain buffer (writable) or a SWMR reader
// buffer, which refuses every write (read-only).
func openFile(t testing.TB, path string, readOnly bool) (*handle, error) {
	t.Helper()
	return openFileCap(t, path, readOnly, bufPages)
}

// openFileCap is openFile with a page buffer of capacity pages.
func openFileCap(t testing.TB, path string, readOnly bool, capacity int) (*handle, error) {
	t.Helper()
	var raw vfs.File
	var err error
	if readOnly {
		raw, err = vfs.OS.Open(path)
	} else {
		raw, err = vfs.OS.OpenRW(path)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	sb, err := ReadSuperblock(raw)
	if err != nil {
		return nil, err
	}
	mode := pagebuf.Plain
	if readOnly {
		mode = pagebuf.SWMRReader
	}
	buf := newBufferCap(t, raw, sb.PageSize, mode, capacity)
	f, err := Open(buf, raw, Options{ReadOnly: readOnly})
	if err != nil {
		return nil, err
	}
	buf.SetEvictHook(f.Evicted)
	return &handle{path, raw, buf, f}, nil
}

func mustOpen(t testing.TB, path string, readOnly bool) *handle {
	t.Helper()
	h, err := openFile(t, path, readOnly)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// close closes the File, flushes the buffer, checks the file and closes
// the data file.
func (h *handle) close(t testing.TB) {
	t.Helper()
	if err := h.f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := h.buf.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := h.raw.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := h.raw.Close(); err != nil {
		t.Fatal(err)
	}
}

// publish makes what the writer h did so far a reader's to adopt: its raw
// data and its page buffer's images reach the file, which grows to the
// end of allocation.
func (h *handle) publish(t testing.TB) {
	t.Helper()
	if err := h.f.FlushRaw(); err != nil {
		t.Fatal(err)
	}
	if _, err := h.buf.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := h.f.Grow(); err != nil {
		t.Fatal(err)
	}
}

// checkClosed runs the consistency check of a closed file, opened afresh.
func checkClosed(t testing.TB, path string) {
	t.Helper()
	h := mustOpen(t, path, true)
	if err := h.f.Check(CheckOptions{Closed: true}); err != nil {
		t.Fatalf("check %s: %v", path, err)
	}
}

// mix is a splitmix64 step: test data is a known function of its place.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// elemBytes is the content of element g (linear, row-major) of a dataset
// with seed, never all zero so "never written" is told from "written".
func elemBytes(dst []byte, seed, g uint64) {
	var w [8]byte
	for k := 0; k < len(dst); k += 8 {
		binary.LittleEndian.PutUint64(w[:], mix(seed^g*0x100000001b3+uint64(k))|1)
		copy(dst[k:], w[:])
	}
}

// model is an in-memory copy of a dataset: what reads must return.
type model struct {
	shape []uint64
	es    int
	data  []byte
}

func newModel(shape []uint64, es int) *model {
	n := uint64(es)
	for _, s := range shape {
		n *= s
	}
	return &model{shape: clip(shape), es: es, data: make([]byte, n)}
}

// grow reshapes the model, keeping elements at their coordinates.
func (m *model) grow(shape []uint64) {
	n := newModel(shape, m.es)
	all := make([]uint64, len(m.shape))
	if total(m.shape) > 0 {
		n.box(all, m.shape, func(g, src uint64) {
			copy(n.data[g*uint64(m.es):], m.data[src*uint64(m.es):(src+1)*uint64(m.es)])
		})
	}
	*m = *n
}

func total(shape []uint64) uint64 {
	n := uint64(1)
	for _, s := range shape {
		n *= s
	}
	return n
}

// box calls fn for every element of (start, count) with its linear index
// in the model and in the row-major box.
func (m *model) box(start, count []uint64, fn func(g, b uint64)) {
	r := len(start)
	if total(count) == 0 {
		return
	}
	x := make([]uint64, r)
	for b := uint64(0); ; b++ {
		var g uint64
		for i := range x {
			g = g*m.shape[i] + start[i] + x[i]
		}
		fn(g, b)
		i := r - 1
		for ; i >= 0; i-- {
			if x[i]++; x[i] < count[i] {
				break
			}
			x[i] = 0
		}
		if i < 0 {
			return
		}
	}
}

// slab makes the data for a write of (start, count) and applies it to the
// model; element values depend on seed and the element's coordinates.
func (m *model) slab(seed uint64, start, count []uint64) []byte {
	es := uint64(m.es)
	out := make([]byte, total(count)*es)
	m.box(start, count, func(g, b uint64) {
		e := out[b*es : (b+1)*es]
		elemBytes(e, seed, coordKey(m.shape, g))
		copy(m.data[g*es:], e)
	})
	return out
}

// coordKey makes an element's value independent of the shape it had when
// written: it names the element by coordinates, not linear index.
func coordKey(shape []uint64, g uint64) uint64 {
	var k uint64
	for i := len(shape) - 1; i >= 0; i-- {
		k = k*1000003 + g%shape[i]
		g /= shape[i]
	}
	return k
}

// want returns the model's bytes for (start, count).
func (m *model) want(start, count []uint64) []byte {
	es := uint64(m.es)
	out := make([]byte, total(count)*es)
	m.box(start, count, func(g, b uint64) { copy(out[b*es:(b+1)*es], m.data[g*es:(g+1)*es]) })
	return out
}
