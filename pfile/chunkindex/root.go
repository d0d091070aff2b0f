package chunkindex

// root is a validated root image. The bytes belong to the Store unless the
// root was cloned for writing.
type root struct {
	b    []byte
	g    geometry
	page uint64
}

const (
	rootPageSize    = 8  // Frozen: u32
	rootDirectCount = 12 // Frozen: u32
	rootSelf        = 16 // Frozen: u64
	rootN           = 24 // Frozen: u64
	rootExtents     = 32 // Frozen: u32
	rootDirect      = 36 // Frozen: u32
	rootReserved    = 40 // Frozen: u64, zero
)

func rootMagic(k Kind) [4]byte {
	if k == KindFixed {
		return magicFixedRoot
	}
	return magicExtensibleRoot
}

// newRoot is the image of an empty index whose root is at page.
func newRoot(g geometry, page, n uint64) root {
	b := newBlock(g.pageSize, rootMagic(g.kind))
	le.PutUint32(b[rootPageSize:], uint32(g.pageSize))
	le.PutUint64(b[rootSelf:], page)
	le.PutUint64(b[rootN:], n)
	le.PutUint32(b[rootExtents:], uint32(g.extents))
	le.PutUint32(b[rootDirect:], uint32(g.direct))
	return root{b: b, g: g, page: page}
}

// decodeRoot validates the root image b read from page. n is the number of
// chunks the caller expects of a Fixed array (ignored for Extensible).
func decodeRoot(b []byte, g geometry, page, n uint64) (root, error) {
	const what = "chunk index root"
	if err := validate(b, g.pageSize, rootMagic(g.kind), what, page); err != nil {
		return root{}, err
	}
	if ps := le.Uint32(b[rootPageSize:]); ps != uint32(g.pageSize) {
		return root{}, mismatchErr(what, page, "page size %d, store has %d", ps, g.pageSize)
	}
	if self := le.Uint64(b[rootSelf:]); self != page {
		return root{}, mismatchErr(what, page, "root of page %d", self)
	}
	if s, d := le.Uint32(b[rootExtents:]), le.Uint32(b[rootDirect:]); s != uint32(g.extents) || d != uint32(g.direct) {
		return root{}, mismatchErr(what, page, "%d extents and %d direct slots, want %d and %d", s, d, g.extents, g.direct)
	}
	if le.Uint64(b[rootReserved:]) != 0 {
		return root{}, boundsErr(what, page, "reserved field not zero")
	}
	stored := le.Uint64(b[rootN:])
	if g.kind == KindExtensible && stored != 0 {
		return root{}, boundsErr(what, page, "extensible array with n = %d", stored)
	}
	if g.kind == KindFixed {
		if stored != n {
			return root{}, mismatchErr(what, page, "fixed array of %d chunks, want %d", stored, n)
		}
		if _, ok := g.fixedPages(n); !ok {
			return root{}, boundsErr(what, page, "fixed array of %d chunks is too large", n)
		}
	}
	r := root{b: b, g: g, page: page}
	dc := r.directCount()
	if dc > g.direct || (g.kind == KindFixed && uint64(dc) > n) {
		return root{}, boundsErr(what, page, "direct count %d", dc)
	}
	for s := range g.extents {
		if err := r.checkExtent(s, n); err != nil {
			return root{}, err
		}
	}
	if !zeroFrom(b, r.directOff(dc), g.pageSize-sumSize) {
		return root{}, boundsErr(what, page, "unused direct slots or padding not zero")
	}
	return r, nil
}

func (r root) checkExtent(s int, n uint64) error {
	const what = "chunk index root"
	start, hwm := r.extent(s)
	if start == 0 {
		if hwm != 0 {
			return boundsErr(what, r.page, "extent %d unallocated with %d pages in use", s, hwm)
		}
		return nil
	}
	size := r.g.extentPages(s, n)
	if _, ok := r.g.firstOf(s, 0, 0); !ok || size == 0 {
		return boundsErr(what, r.page, "extent %d cannot exist", s)
	}
	if hwm < 1 || hwm > size {
		return boundsErr(what, r.page, "extent %d has %d of %d pages in use", s, hwm, size)
	}
	if start+uint64(size) < start {
		return boundsErr(what, r.page, "extent %d at page %d wraps around", s, start)
	}
	if start <= r.page && r.page < start+uint64(size) {
		return boundsErr(what, r.page, "extent %d at page %d covers the root", s, start)
	}
	return nil
}

func (r root) extentOff(s int) int { return rootHeader + extentSize*s }

func (r root) directOff(d int) int { return rootHeader + extentSize*r.g.extents + recordSize*d }

// extent returns the first page of extent s (0 if not allocated) and how
// many of its super pages have been written.
func (r root) extent(s int) (start uint64, hwm int) {
	o := r.extentOff(s)
	return le.Uint64(r.b[o:]), int(le.Uint32(r.b[o+8:]))
}

func (r root) setExtent(s int, start uint64, hwm int) {
	o := r.extentOff(s)
	le.PutUint64(r.b[o:], start)
	le.PutUint32(r.b[o+8:], uint32(hwm))
}

func (r root) directCount() int { return int(le.Uint32(r.b[rootDirectCount:])) }

func (r root) direct(d int) Record { return getRecord(r.b, r.directOff(d)) }

// setDirect stores direct record d and raises the direct count past it.
func (r root) setDirect(d int, rec Record) {
	putRecord(r.b, r.directOff(d), rec)
	if d >= r.directCount() {
		le.PutUint32(r.b[rootDirectCount:], uint32(d+1))
	}
}

func getRecord(b []byte, o int) Record {
	return Record{Addr: le.Uint64(b[o:]), Size: le.Uint64(b[o+8:])}
}

func putRecord(b []byte, o int, rec Record) {
	le.PutUint64(b[o:], rec.Addr)
	le.PutUint64(b[o+8:], rec.Size)
}
