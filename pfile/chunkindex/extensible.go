package chunkindex

// Extensible is an extensible array: a chunk index for a dataset whose
// first dimension is unlimited. Any index can be set; the structure grows
// as Sets reach further.
type Extensible struct {
	t   *tree
	len uint64 // one past the highest index ever set, as of Open and our Sets
}

var _ Index = (*Extensible)(nil)

// CreateExtensible writes the root of an empty extensible array (one page)
// and returns its page.
func CreateExtensible(st Store) (root uint64, err error) {
	e, err := NewExtensible(st)
	if err != nil {
		return 0, err
	}
	return e.Root(), nil
}

// NewExtensible is CreateExtensible returning the array open, as
// OpenExtensible would, without reading back the root it wrote.
func NewExtensible(st Store) (*Extensible, error) {
	t, err := create(st, KindExtensible, 0)
	if err != nil {
		return nil, err
	}
	return &Extensible{t: t}, nil
}

// OpenExtensible opens the extensible array rooted at root. It reads at most
// three pages, to find Len.
func OpenExtensible(st Store, root uint64) (*Extensible, error) {
	t, r, err := open(st, KindExtensible, root, 0)
	if err != nil {
		return nil, err
	}
	n, err := t.derivedLen(r)
	if err != nil {
		return nil, err
	}
	return &Extensible{t: t, len: n}, nil
}

// derivedLen derives Len: the highest allocated extent's last written super
// page holds, in its highest pointer, the data page with the highest chunk
// ever set. With no extent, the root's direct count is Len.
func (t *tree) derivedLen(r root) (uint64, error) {
	for s := t.g.extents - 1; s >= 0; s-- {
		start, hwm := r.extent(s)
		if start == 0 {
			continue
		}
		sp, err := t.readSuper(start, s, hwm-1)
		if err != nil {
			return 0, err
		}
		k := sp.last()
		if k < 0 {
			return 0, boundsErr("chunk index super page", sp.page, "last written super page has no data page")
		}
		first, ok := t.g.firstOf(s, hwm-1, k)
		if !ok {
			return 0, boundsErr("chunk index super page", sp.page, "pointer %d past the uint64 range", k)
		}
		d, err := t.readData(sp.pointer(k), first)
		if err != nil {
			return 0, err
		}
		n := first + uint64(d.count())
		if n < first {
			return 0, boundsErr("chunk index data page", d.page, "count %d past the uint64 range", d.count())
		}
		return n, nil
	}
	return uint64(r.directCount()), nil
}

// Get returns record i, or the zero Record if it was never set. It reads
// the root, and for i past the root's direct slots a super page and a data
// page.
func (e *Extensible) Get(i uint64) (Record, error) { return e.t.get(i) }

// Set stores record i.
func (e *Extensible) Set(i uint64, r Record) error {
	if err := e.t.set(i, r); err != nil {
		return err
	}
	if i >= e.len {
		e.len = i + 1
	}
	return nil
}

// Len is one past the highest index ever set, as of Open and the Sets made
// through this value.
func (e *Extensible) Len() uint64 { return e.len }

// Root is the page of the array's root; it never changes.
func (e *Extensible) Root() uint64 { return e.t.root }
