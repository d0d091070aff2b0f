package chunkindex

import "fmt"

// tree is the engine both kinds share: root, extents of super pages, data
// pages (see the package doc).
type tree struct {
	st   Store
	g    geometry
	root uint64
	n    uint64 // Fixed: number of chunks; Extensible: 0
	// last is the root last decoded and img the Store's image it came
	// from. A Store never modifies an image in place, so while Read hands
	// back the same slice the root is the same, already validated one.
	last root
	img  []byte
	// own: the Store says only this index writes its pages (Owner), so
	// last stays right without reading the root again.
	own bool
}

func (t *tree) read(page uint64) ([]byte, error) {
	b, err := t.st.Read(page, 1)
	if err != nil {
		return nil, fmt.Errorf("chunkindex: read page %d: %w", page, err)
	}
	return b, nil
}

func (t *tree) write(page uint64, b []byte, fresh bool) error {
	if page == t.root {
		t.img = nil // until the Store holds the new root
	}
	if err := t.st.Write(page, seal(b), fresh); err != nil {
		return fmt.Errorf("chunkindex: write page %d: %w", page, err)
	}
	if page == t.root && len(b) == t.g.pageSize {
		// The Store owns b now and never changes it in place.
		t.last, t.img = root{b: b, g: t.g, page: page}, b
	}
	return nil
}

func (t *tree) alloc(npages int) (uint64, error) {
	p, err := t.st.Alloc(npages)
	if err != nil {
		return 0, fmt.Errorf("chunkindex: allocate %d pages: %w", npages, err)
	}
	if p == 0 {
		// Page 0 means "none" in every pointer of the format.
		return 0, fmt.Errorf("chunkindex: allocator returned page 0 for %d pages", npages)
	}
	return p, nil
}

func (t *tree) readRoot() (root, error) {
	if t.own && t.img != nil {
		return t.last, nil
	}
	b, err := t.read(t.root)
	if err != nil {
		return root{}, err
	}
	if len(b) > 0 && len(b) == len(t.img) && &b[0] == &t.img[0] {
		return t.last, nil
	}
	r, err := decodeRoot(b, t.g, t.root, t.n)
	if err != nil {
		return root{}, err
	}
	t.last, t.img = r, b
	return r, nil
}

func (t *tree) readSuper(start uint64, s, j int) (super, error) {
	page := start + uint64(j)
	b, err := t.read(page)
	if err != nil {
		return super{}, err
	}
	return decodeSuper(b, t.g, page, t.root, s, j)
}

func (t *tree) readData(page, first uint64) (data, error) {
	b, err := t.read(page)
	if err != nil {
		return data{}, err
	}
	return decodeData(b, t.g, page, t.root, first)
}

// create allocates and writes the root of an empty index and returns the
// engine over it, the root already decoded (it wrote it).
func create(st Store, kind Kind, n uint64) (*tree, error) {
	g, err := newGeometry(st.PageSize(), kind)
	if err != nil {
		return nil, err
	}
	if kind == KindFixed {
		if _, ok := g.fixedPages(n); !ok {
			return nil, fmt.Errorf("%w: fixed array of %d chunks", ErrRange, n)
		}
	}
	t := &tree{st: st, g: g, n: n, own: owns(st)}
	if t.root, err = t.alloc(1); err != nil {
		return nil, err
	}
	if err := t.write(t.root, newRoot(g, t.root, n).b, true); err != nil {
		return nil, err
	}
	return t, nil
}

// open validates the root and returns the engine over it.
func open(st Store, kind Kind, rootPage, n uint64) (*tree, root, error) {
	g, err := newGeometry(st.PageSize(), kind)
	if err != nil {
		return nil, root{}, err
	}
	t := &tree{st: st, g: g, root: rootPage, n: n, own: owns(st)}
	r, err := t.readRoot()
	if err != nil {
		return nil, root{}, err
	}
	return t, r, nil
}

// get returns record i: one read for a direct slot, at most three otherwise.
func (t *tree) get(i uint64) (Record, error) {
	r, err := t.readRoot()
	if err != nil {
		return Record{}, err
	}
	sl, ok := t.g.locate(i)
	if !ok {
		return Record{}, nil // past what any Set can reach: never set
	}
	if sl.direct {
		return r.direct(sl.d), nil
	}
	start, hwm := r.extent(sl.s)
	if start == 0 || sl.j >= hwm {
		return Record{}, nil
	}
	sp, err := t.readSuper(start, sl.s, sl.j)
	if err != nil {
		return Record{}, err
	}
	p := sp.pointer(sl.k)
	if p == 0 {
		return Record{}, nil
	}
	d, err := t.readData(p, sl.first)
	if err != nil {
		return Record{}, err
	}
	if sl.r >= d.count() {
		return Record{}, nil
	}
	return d.record(sl.r), nil
}

// set stores record i. It writes the data page, then the super page if the
// data page is new, then the root if an extent or super page is new.
func (t *tree) set(i uint64, rec Record) error {
	r, err := t.readRoot()
	if err != nil {
		return err
	}
	sl, ok := t.g.locate(i)
	if !ok {
		return fmt.Errorf("%w: chunk %d is past the extensible array's capacity", ErrRange, i)
	}
	if sl.direct {
		nr := root{b: clone(r.b), g: t.g, page: t.root}
		nr.setDirect(sl.d, rec)
		return t.write(t.root, nr.b, false)
	}

	start, hwm := r.extent(sl.s)
	rootChanged := false
	if start == 0 {
		if start, err = t.alloc(t.g.extentPages(sl.s, t.n)); err != nil {
			return err
		}
		rootChanged = true
	}
	var sp super
	spFresh := sl.j >= hwm
	if spFresh {
		// Pages hwm..j-1 have never been written: write them empty so
		// that every page below the new hwm is a valid super page.
		for j := hwm; j < sl.j; j++ {
			page := start + uint64(j)
			if err := t.write(page, newSuper(t.g, t.root, sl.s, j, page).b, true); err != nil {
				return err
			}
		}
		sp = newSuper(t.g, t.root, sl.s, sl.j, start+uint64(sl.j))
		hwm = sl.j + 1
		rootChanged = true
	} else {
		old, err := t.readSuper(start, sl.s, sl.j)
		if err != nil {
			return err
		}
		sp = super{b: clone(old.b), g: t.g, page: old.page}
	}

	if p := sp.pointer(sl.k); p != 0 {
		old, err := t.readData(p, sl.first)
		if err != nil {
			return err
		}
		d := data{b: clone(old.b), g: t.g, page: p}
		d.set(sl.r, rec)
		if err := t.write(p, d.b, false); err != nil {
			return err
		}
	} else {
		p, err := t.alloc(1)
		if err != nil {
			return err
		}
		d := newData(t.g, t.root, sl.first, p)
		d.set(sl.r, rec)
		if err := t.write(p, d.b, true); err != nil {
			return err
		}
		sp.setPointer(sl.k, p)
		if err := t.write(sp.page, sp.b, spFresh); err != nil {
			return err
		}
	}

	if rootChanged {
		nr := root{b: clone(r.b), g: t.g, page: t.root}
		nr.setExtent(sl.s, start, hwm)
		return t.write(t.root, nr.b, false)
	}
	return nil
}
