package pfile

import (
	"fmt"
	"math/bits"
	"slices"
	"unicode/utf8"

	"pwstore/internal/storage/corrupt"
)

// Dataset is a handle on one dataset of a File.
type Dataset struct {
	f     *File
	path  string
	at    ref // where the header lives
	h     *header
	idx   chunkIndex // opened on first use (a dataset created here: at creation)
	tab   *extTable  // writer: the extent table holding the shape (version 2 headers)
	blk   *hblock    // writer: the header block holding the header; nil: pages of its own
	stale bool       // reader: the header's page was evicted, reload before use
	gen   uint64     // reader: File.catGen when the catalog entry was read
	xgen  uint64     // reader: File.extGen when the shape was read from its table
	// Kept across calls so that a call allocates nothing: the header's
	// encoder for writeObjectLazy (made once), the runs of the last slab,
	// and a writer's last chunk record looked up (a writer's records never
	// change once set: a chunk gets its space once, when the shape grows).
	enc   func() []byte
	lazy  uint64 // DeferSeal: File.seals+1 while the header is in File.dirty, encoded by enc
	runs  []run
	last  Record
	lastC uint64 // linear number of the chunk of last; last.Size == 0: none
}

// Info describes a dataset in a listing.
type Info struct {
	Path string
	Spec Spec // Shape is the current shape
}

// CreateDataset creates a dataset and allocates space for every chunk of
// its initial shape. Collective in a parallel writer: same arguments on
// every rank.
func (f *File) CreateDataset(path string, spec Spec) (*Dataset, error) {
	if err := f.writable(); err != nil {
		return nil, err
	}
	if err := checkPath(path, f.sb.PageSize); err != nil {
		return nil, err
	}
	s, err := spec.normalize()
	if err != nil {
		return nil, fmt.Errorf("dataset %q: %w", path, err)
	}
	if _, found, err := f.lookup(path); err != nil || found {
		if err == nil {
			err = fmt.Errorf("dataset %q: %w", path, ErrExists)
		}
		return nil, err
	}
	h := &header{path: path, typ: s.Type, shape: s.Shape, max: s.MaxShape, chunk: s.Chunk}
	if err := f.checkSpace(h, h.shape); err != nil {
		return nil, fmt.Errorf("dataset %q: %w", path, err)
	}
	ds, err := f.createDataset(h)
	if err == nil {
		err = ds.allocChunks(make([]uint64, len(h.shape)), h.shape)
	}
	if err == nil {
		err = f.writeSuperblock()
	}
	if err != nil {
		return nil, f.fail(fmt.Errorf("create dataset %q: %w", path, err))
	}
	return ds, nil
}

// createDataset writes the chunk index, the header and the catalog entry
// of a new dataset (its chunks are allocated next). A dataset whose
// initial shape covers at most one chunk starts without an index (single).
func (f *File) createDataset(h *header) (*Dataset, error) {
	// The index stays open: reopening it on the first Extend would read
	// back its root, which by then may have been evicted.
	ds := &Dataset{f: f, path: h.path, h: h}
	if h.shapeChunks() <= 1 {
		ds.idx = &single{ds}
	} else {
		idx, err := f.newIndex(h)
		if err != nil {
			return nil, err
		}
		h.index, ds.idx = idx.Root(), idx
	}
	x, tab, err := f.newSlot(h.shape)
	if err != nil {
		return nil, fmt.Errorf("extent slot: %w", err)
	}
	h.ext, h.shape = x, tab.vals[x.slot:int(x.slot)+len(h.shape):int(x.slot)+len(h.shape)]
	ds.tab = tab
	if err := f.placeHeader(ds); err != nil {
		return nil, err
	}
	if err := f.catalogPut(h.path, ds.at, false); err != nil {
		return nil, err
	}
	f.dsets[h.path] = ds
	f.headers[ds.at.page] = append(f.headers[ds.at.page], ds)
	return ds, nil
}

// Dataset opens the dataset at path (ErrNotFound if there is none).
func (f *File) Dataset(path string) (*Dataset, error) {
	if err := f.usable(); err != nil {
		return nil, err
	}
	if err := f.fresher(); err != nil {
		return nil, err
	}
	if ds, ok := f.dsets[path]; ok {
		if err := ds.sync(); err != nil {
			return nil, err
		}
		return ds, nil
	}
	ds := &Dataset{f: f, path: path, stale: true}
	if err := ds.sync(); err != nil {
		return nil, err
	}
	f.dsets[path] = ds
	return ds, nil
}

// sync brings a reader's dataset up to date: it reloads a header whose
// page was evicted, looks the path up again if catalog nodes were evicted
// since it last did (reloading the header if the entry moved), and reads
// the shape again if extent tables were evicted.
func (ds *Dataset) sync() error {
	f := ds.f
	if !ds.stale && (!f.ro || (ds.gen == f.catGen && !f.sbStale)) {
		return ds.reshape()
	}
	if err := f.fresher(); err != nil {
		return err
	}
	at, found, err := f.lookup(ds.path)
	if err != nil {
		return fmt.Errorf("dataset %q: %w", ds.path, err)
	}
	if !found {
		return fmt.Errorf("dataset %q: %w", ds.path, ErrNotFound)
	}
	if !ds.stale && at == ds.at {
		ds.gen = f.catGen
		return ds.reshape()
	}
	h, err := f.loadHeader(at, ds.path)
	if err != nil {
		return err
	}
	if h.path != ds.path {
		return corrupt.Errorf("catalog entry %q points at the header of %q", ds.path, h.path)
	}
	if ds.h != nil {
		f.unlistHeader(ds.at.page, ds)
	}
	ds.at, ds.h, ds.idx, ds.last, ds.stale, ds.gen = at, h, nil, Record{}, false, f.catGen
	if !f.ro && at.npages == 0 {
		b, err := f.writerBlock(at.page)
		if err == nil {
			err = b.adopt(ds)
		}
		if err != nil {
			ds.stale = true
			return err
		}
	}
	// Registered before the extent table is read: that read may evict the
	// header's page from a small buffer, which must leave ds stale.
	f.headers[at.page] = append(f.headers[at.page], ds)
	if ds.tab, err = f.withShape(h); err != nil {
		ds.stale = true
		return err
	}
	ds.xgen = f.extGen
	return nil
}

// reshape reads a reader's shape again from its extent table if tables
// were evicted since it last did (a writer's shape is the table's own).
func (ds *Dataset) reshape() error {
	f := ds.f
	if !f.ro || ds.xgen == f.extGen {
		return nil
	}
	if ds.h.ext.page != 0 {
		// slotShape changes the header only once the shape checks out.
		if _, err := f.slotShape(ds.h); err != nil {
			return err
		}
	}
	ds.xgen = f.extGen
	return nil
}

// unlistHeader takes ds off the datasets listed by the header page page.
func (f *File) unlistHeader(page uint64, ds *Dataset) {
	dss := slices.DeleteFunc(f.headers[page], func(o *Dataset) bool { return o == ds })
	if len(dss) == 0 {
		delete(f.headers, page)
	} else {
		f.headers[page] = dss
	}
}

// loadHeader reads and decodes the header of path at at (in a header block
// if at.npages is 0); a version 2 or 3 header comes without its shape
// (withShape reads it).
func (f *File) loadHeader(at ref, path string) (*header, error) {
	if at.npages == 0 {
		return f.findInBlock(at.page, path)
	}
	p, v, err := f.readObject(magicDataset, at)
	if err != nil {
		return nil, err
	}
	h, err := decodeHeader(p, v, f.eoa(), f.sb.PageSize)
	if err != nil {
		return nil, fmt.Errorf("dataset header at page %d: %w", at.page, err)
	}
	return h, nil
}

// withShape gives a version 2 header its shape from its extent table and
// returns the table (nil for a version 1 header, which holds its shape).
func (f *File) withShape(h *header) (*extTable, error) {
	if h.ext.page == 0 {
		return nil, nil
	}
	return f.slotShape(h)
}

// Paths lists the dataset paths in order.
func (f *File) Paths() ([]string, error) {
	if err := f.usable(); err != nil {
		return nil, err
	}
	if err := f.fresher(); err != nil {
		return nil, err
	}
	var out []string
	err := f.walk(func(path string, _ ref) error {
		out = append(out, path)
		return nil
	})
	return out, err
}

// Datasets lists every dataset, sorted by path, with its current spec.
func (f *File) Datasets() ([]Info, error) {
	if err := f.usable(); err != nil {
		return nil, err
	}
	if err := f.fresher(); err != nil {
		return nil, err
	}
	var out []Info
	err := f.walk(func(path string, at ref) error {
		h, err := f.loadHeader(at, path)
		if err == nil {
			_, err = f.withShape(h)
		}
		if err != nil {
			return err
		}
		if h.path != path {
			return corrupt.Errorf("catalog entry %q points at the header of %q", path, h.path)
		}
		out = append(out, Info{Path: path, Spec: h.spec()})
		return nil
	})
	return out, err
}

func (h *header) spec() Spec {
	return Spec{Type: h.typ, Shape: clip(h.shape), MaxShape: clip(h.max), Chunk: clip(h.chunk)}
}

// Path returns the dataset's path.
func (ds *Dataset) Path() string { return ds.path }

// Spec returns the dataset's spec with its current shape.
func (ds *Dataset) Spec() (Spec, error) {
	if err := ds.ready(); err != nil {
		return Spec{}, err
	}
	return ds.h.spec(), nil
}

// Shape returns the current shape.
func (ds *Dataset) Shape() ([]uint64, error) {
	if err := ds.ready(); err != nil {
		return nil, err
	}
	return clip(ds.h.shape), nil
}

func (ds *Dataset) ready() error {
	if err := ds.f.usable(); err != nil {
		return err
	}
	return ds.sync()
}

// Extend sets the first dimension to n (it may not shrink). Collective.
func (ds *Dataset) Extend(n uint64) error {
	if err := ds.ready(); err != nil {
		return err
	}
	var buf [MaxRank]uint64
	shape := append(buf[:0], ds.h.shape...)
	shape[0] = n
	return ds.Resize(shape)
}

// Append grows the first dimension by rows and writes the new rows, whole
// in the other dimensions, from data (row-major, as WriteSlab); nil data
// only grows it. Collective, as Extend; the write is this rank's. Data of
// any other length than the rows' bytes is ErrBadSpec, and then nothing
// grows.
func (ds *Dataset) Append(rows uint64, data []byte) error {
	if err := ds.ready(); err != nil {
		return err
	}
	h := ds.h
	n0 := h.shape[0]
	if rows > h.max[0] || n0 > h.max[0]-rows {
		return fmt.Errorf("append %d rows to %q of %d: beyond the max shape %v: %w", rows, ds.path, n0, h.max, ErrBadSpec)
	}
	if data != nil {
		hi, need := bits.Mul64(uint64(h.typ.Size()), rows)
		for _, n := range h.shape[1:] {
			var h2 uint64
			h2, need = bits.Mul64(need, n)
			hi |= h2
		}
		if hi != 0 || uint64(len(data)) != need {
			return fmt.Errorf("append %d rows to %q: %d bytes of data for rows of %v of %v: %w", rows, ds.path, len(data), h.shape[1:], h.typ, ErrBadSpec)
		}
	}
	var sbuf, cbuf [MaxRank]uint64 // on the stack, as Extend's
	shape := append(sbuf[:0], h.shape...)
	shape[0] = n0 + rows
	if err := ds.Resize(shape); err != nil {
		return err
	}
	if data == nil || rows == 0 {
		return nil
	}
	start := cbuf[:len(shape)]
	start[0] = n0
	shape[0] = rows // Resize copied it: shape is now the count
	return ds.WriteSlab(start, shape, data)
}

// Resize grows any dimensions within the max shape (none may shrink) and
// allocates the chunks the new shape covers. Collective: every rank makes
// the same allocations, so raw writes never change metadata.
func (ds *Dataset) Resize(shape []uint64) error {
	f := ds.f
	if err := f.writable(); err != nil {
		return err
	}
	h := ds.h
	if len(shape) != len(h.shape) {
		return fmt.Errorf("resize %q: rank %d, dataset has %d: %w", ds.path, len(shape), len(h.shape), ErrBadSpec)
	}
	grows := false // the shape covers more chunks: most Extends of a row do not
	for i := range shape {
		if shape[i] < h.shape[i] || shape[i] > h.max[i] {
			// clip: shape itself must not escape (Extend's is on its stack).
			return fmt.Errorf("resize %q to %v: must lie between the shape %v and the max shape %v: %w", ds.path, clip(shape), h.shape, h.max, ErrBadSpec)
		}
		grows = grows || ceilDiv(shape[i], h.chunk[i]) != ceilDiv(h.shape[i], h.chunk[i])
	}
	if grows {
		if err := f.checkSpace(h, shape); err != nil {
			return fmt.Errorf("resize %q: %w", ds.path, err)
		}
	}
	err := ds.resize(shape, grows)
	if err == nil && grows { // else nothing was allocated
		err = f.writeSuperblock()
	}
	if err != nil {
		return f.fail(fmt.Errorf("resize %q: %w", ds.path, err))
	}
	return nil
}

// checkSpace refuses a shape whose chunks could not be addressed.
func (f *File) checkSpace(h *header, shape []uint64) error {
	n := header{shape: shape, chunk: h.chunk}
	total := n.shapeChunks()
	if total == Unlimited || total > maxFixedChunk {
		return fmt.Errorf("shape %v in chunks %v has too many chunks: %w", clip(shape), h.chunk, ErrBadSpec)
	}
	if hi, bytes := bits.Mul64(total, h.chunkBytes()); hi != 0 || bytes/uint64(f.sb.PageSize) > maxPages(f.sb.PageSize)-f.al.eoa {
		return fmt.Errorf("shape %v needs more space than a file can address: %w", clip(shape), ErrBadSpec)
	}
	return nil
}

// resize sets the shape, rewrites the header in place (its size does not
// change) and allocates the new chunks, if it grows into new ones.
func (ds *Dataset) resize(shape []uint64, grows bool) error {
	var buf [MaxRank]uint64
	old := append(buf[:0], ds.h.shape...)
	copy(ds.h.shape, shape) // same rank (checked); h.shape is the header's own, or its extent slot
	if f := ds.f; ds.h.ext.page != 0 {
		if err := f.touchTable(ds.h.ext.page, ds.tab); err != nil {
			return err
		}
	} else if !f.deferSeal || ds.lazy != f.seals+1 {
		// Once in dirty as enc, the header needs no new entry until the
		// next Seal: enc encodes the shape as it is then.
		if ds.enc == nil {
			ds.enc = func() []byte { return ds.h.encode() }
		}
		if err := f.writeObjectLazy(ds.h.kind(), ds.at.page, int(ds.at.npages), ds.enc); err != nil {
			return err
		}
		ds.lazy = f.seals + 1
	}
	if !grows {
		return nil
	}
	return ds.allocChunks(old, shape)
}

// allocChunks gives space to every chunk that shape covers and old did
// not, in row-major order of chunk coordinates (so deterministically).
func (ds *Dataset) allocChunks(old, shape []uint64) error {
	h := ds.h
	r := len(shape)
	var oldB, newB, cB [MaxRank]uint64 // r <= MaxRank: no allocation
	oldN, newN := oldB[:r], newB[:r]
	firstOnly := true
	for i := range shape {
		oldN[i], newN[i] = ceilDiv(old[i], h.chunk[i]), ceilDiv(shape[i], h.chunk[i])
		if newN[i] == 0 {
			return nil
		}
		if i > 0 && oldN[i] != newN[i] {
			firstOnly = false
		}
	}
	if _, err := ds.index(); err != nil {
		return err
	}
	c := cB[:r]
	if firstOnly {
		c[0] = oldN[0]
	}
	size := h.chunkBytes()
	for c[0] < newN[0] {
		inOld := true
		for i := range c {
			inOld = inOld && c[i] < oldN[i]
		}
		if !inOld {
			// ds.idx, not a copy: a single-chunk index makes the real one
			// at its first chunk but chunk 0, and the dataset moves to it.
			rec := Record{Addr: ds.f.al.allocRaw(size), Size: size}
			if err := ds.idx.Set(h.linear(c), rec); err != nil {
				return fmt.Errorf("chunk %v: %w", clip(c), err)
			}
			ds.f.cache.fresh(rec)
		}
		for i := r - 1; i >= 0; i-- {
			c[i]++
			if c[i] < newN[i] || i == 0 {
				break
			}
			c[i] = 0
		}
	}
	return nil
}

// index opens the chunk index on first use.
func (ds *Dataset) index() (chunkIndex, error) {
	if ds.idx != nil {
		return ds.idx, nil
	}
	h := ds.h
	var (
		idx chunkIndex
		err error
	)
	switch {
	case h.single():
		idx = &single{ds}
	case h.extensible():
		idx, err = openExtensible(indexStore{ds.f}, h.index)
	default:
		idx, err = openFixed(indexStore{ds.f}, h.index, h.fixedChunks())
	}
	if err != nil {
		return nil, fmt.Errorf("dataset %q: chunk index at page %d: %w", ds.path, h.index, err)
	}
	ds.idx = idx
	return idx, nil
}

// Attr is a named attribute value.
type Attr struct {
	Name  string
	Value Value
}

// SetAttr sets (adds or replaces) an attribute. Collective.
func (ds *Dataset) SetAttr(name string, v Value) error {
	f := ds.f
	if err := f.writable(); err != nil {
		return err
	}
	if name == "" || len(name) > MaxAttrName || !utf8.ValidString(name) {
		return fmt.Errorf("attribute name %q: empty, over %d bytes or not UTF-8: %w", name, MaxAttrName, ErrBadSpec)
	}
	if err := v.check(); err != nil {
		return fmt.Errorf("attribute %q: %w", name, err)
	}
	v.Data = clip(v.Data)
	h := ds.h
	if i, found := h.findAttr(name); found {
		h.attrs[i].val = v
	} else if len(h.attrs) >= MaxAttrs {
		return fmt.Errorf("attribute %q: %q has %d attributes already: %w", name, ds.path, MaxAttrs, ErrBadSpec)
	} else {
		h.attrs = insertAt(h.attrs, i, attr{name, v})
	}
	err := ds.rewriteHeader()
	if err == nil {
		err = f.writeSuperblock()
	}
	if err != nil {
		return f.fail(fmt.Errorf("set attribute %q of %q: %w", name, ds.path, err))
	}
	return nil
}

// rewriteHeader writes the header in place if it still fits its pages (or
// its block), else moves it - to the open header block or a new one if a
// block can hold it, else to a larger entry of its own - and repoints the
// catalog.
func (ds *Dataset) rewriteHeader() error {
	f := ds.f
	ds.lazy = 0 // the entry in dirty is replaced (or moved) below
	if b := ds.blk; b != nil && b.refit(ds, f.sb.PageSize) {
		return b.write(f)
	}
	if ds.blk == nil {
		if np := pagesFor(ds.h.size(), f.sb.PageSize); np <= int(ds.at.npages) {
			return f.writeObject(ds.h.kind(), ds.at.page, int(ds.at.npages), ds.h.encode())
		}
	}
	// The header's new place is allocated before its old one is freed.
	old, from := ds.at, ds.blk
	if from != nil {
		ds.blk = nil
		from.leave(ds)
		if f.blk == from && len(from.mem) == 0 {
			f.blk = nil // to be freed: no header joins it
		}
	}
	if err := f.placeHeader(ds); err != nil {
		return err
	}
	if err := f.catalogPut(ds.path, ds.at, true); err != nil {
		return err
	}
	f.unlistHeader(old.page, ds)
	f.headers[ds.at.page] = append(f.headers[ds.at.page], ds)
	switch {
	case from == nil:
		f.freeMeta(old.page, int(old.npages))
	case len(from.mem) == 0:
		delete(f.blocks, from.page)
		f.freeMeta(from.page, 1)
	default:
		return from.write(f)
	}
	return nil
}

// Attr returns one attribute.
func (ds *Dataset) Attr(name string) (Value, bool, error) {
	if err := ds.ready(); err != nil {
		return Value{}, false, err
	}
	i, found := ds.h.findAttr(name)
	if !found {
		return Value{}, false, nil
	}
	v := ds.h.attrs[i].val
	return Value{v.Type, clip(v.Data)}, true, nil
}

// Attrs returns every attribute, sorted by name.
func (ds *Dataset) Attrs() ([]Attr, error) {
	if err := ds.ready(); err != nil {
		return nil, err
	}
	out := make([]Attr, len(ds.h.attrs))
	for i, a := range ds.h.attrs {
		out[i] = Attr{a.name, Value{a.val.Type, clip(a.val.Data)}}
	}
	return out, nil
}
