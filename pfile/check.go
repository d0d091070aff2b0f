package pfile

import (
	"cmp"
	"errors"
	"fmt"
	"math/bits"
	"slices"

	"pwstore/internal/storage/corrupt"
	"pwstore/pfile/chunkindex"
)

// CheckOptions tune Check.
type CheckOptions struct {
	// Closed: the file was closed (or recovered), so the data file must
	// reach the end of allocation; a shorter file was truncated.
	Closed bool
}

// Check verifies the whole file as its Pages show it: the superblock;
// every catalog node (checksums, key order against the separators, every
// leaf at one depth, no node reached twice); every dataset header (its
// path matches its catalog key); every chunk index (chunkindex.Check);
// that every chunk of every current shape has space of the chunk's size;
// that no two of all these objects, the extent tables, the free list and
// the free space overlap, none lies beyond the end of allocation; and that
// no two datasets share an extent slot. It reports every
// problem it finds (errors.Join), each wrapping corrupt.Err.
func (f *File) Check(opts CheckOptions) error {
	if err := f.usable(); err != nil {
		return err
	}
	c := checker{f: f}
	c.run(opts)
	return errors.Join(c.errs...)
}

type used struct {
	lo, hi uint64 // bytes
	what   string
}

type checker struct {
	f     *File
	sb    Superblock
	used  []used
	slots []used          // extent slots, by their bytes in the file
	seen  map[uint64]bool // catalog nodes and extent tables visited
	depth int             // leaf depth, -1 before the first leaf
	errs  []error
}

func (c *checker) fail(err error) {
	if !errors.Is(err, corrupt.Err) {
		err = corrupt.Errorf("check: %w", err)
	}
	c.errs = append(c.errs, err)
}

func (c *checker) pages(page, n uint64, format string, args ...any) {
	ps := uint64(c.sb.PageSize)
	c.used = append(c.used, used{page * ps, (page + n) * ps, fmt.Sprintf(format, args...)})
}

func (c *checker) run(opts CheckOptions) {
	f := c.f
	sb, err := f.readSuperblock(f.sb.PageSize)
	if err != nil {
		c.fail(err)
		return
	}
	if !f.ro && sb != f.Superblock() {
		c.fail(corrupt.Errorf("superblock in the pages %+v differs from the writer's %+v", sb, f.Superblock()))
	}
	c.sb = sb
	c.pages(0, 1, "superblock")
	c.seen, c.depth = map[uint64]bool{}, -1
	c.node(sb.CatalogRoot, 0, nil, nil)
	if sb.Extents != 0 {
		if _, err := f.table(sb.Extents); err != nil {
			c.fail(fmt.Errorf("superblock's extent table: %w", err))
		}
		c.shared(sb.Extents, "extent table")
	}
	if sb.FreeList != 0 {
		c.pages(sb.FreeList, uint64(sb.FreePages), "free list")
		free, err := f.loadFreeList(ref{sb.FreeList, sb.FreePages})
		if err != nil {
			c.fail(err)
		}
		for _, x := range free {
			c.pages(x.page, x.n, "free space")
		}
	}
	if !f.ro {
		for _, x := range f.al.allFree() {
			c.pages(x.page, x.n, "free space")
		}
	}
	c.overlaps(c.used)
	c.overlaps(c.slots)
	if opts.Closed {
		size, err := f.raw.Size()
		end := sb.EOA * uint64(sb.PageSize)
		switch {
		case err != nil:
			c.fail(fmt.Errorf("data file size: %w", err))
		case uint64(size) < end:
			c.fail(corrupt.Errorf("data file of %d bytes ends before the end of allocation at %d: %w", size, end, ErrTruncated))
		}
	}
}

// node checks the subtree at page, whose keys must lie in [lo, hi).
func (c *checker) node(page uint64, depth int, lo, hi *string) {
	if c.seen[page] {
		c.fail(corrupt.Errorf("catalog node at page %d reached twice", page))
		return
	}
	c.seen[page] = true
	if depth > maxTreeDepth {
		c.fail(corrupt.Errorf("catalog deeper than %d levels", maxTreeDepth))
		return
	}
	n, err := c.f.loadNode(page)
	if err != nil {
		c.fail(err)
		return
	}
	c.pages(page, 1, "catalog node")
	for _, k := range n.keys {
		if (lo != nil && k < *lo) || (hi != nil && k >= *hi) {
			c.fail(corrupt.Errorf("catalog node at page %d: key %q outside its parent's range", page, k))
		}
	}
	if n.leaf {
		if c.depth >= 0 && depth != c.depth {
			c.fail(corrupt.Errorf("catalog leaf at page %d at depth %d, others at %d", page, depth, c.depth))
		}
		c.depth = depth
		for i, k := range n.keys {
			c.dataset(k, n.refs[i])
		}
		return
	}
	if len(n.kids) != len(n.keys)+1 {
		c.fail(corrupt.Errorf("catalog node at page %d: %d children for %d keys", page, len(n.kids), len(n.keys)))
		return
	}
	for i, kid := range n.kids {
		klo, khi := lo, hi
		if i > 0 {
			klo = &n.keys[i-1]
		}
		if i < len(n.keys) {
			khi = &n.keys[i]
		}
		c.node(kid, depth+1, klo, khi)
	}
}

func (c *checker) dataset(path string, at ref) {
	f := c.f
	if at.npages == 0 {
		c.shared(at.page, "header block")
	} else {
		c.pages(at.page, uint64(at.npages), "header of %q", path)
	}
	h, err := f.loadHeader(at, path)
	if err == nil {
		_, err = f.withShape(h)
	}
	if err != nil {
		c.fail(fmt.Errorf("dataset %q: %w", path, err))
		return
	}
	if h.path != path {
		c.fail(corrupt.Errorf("catalog entry %q points at the header of %q", path, h.path))
		return
	}
	if h.ext.page != 0 {
		c.shared(h.ext.page, "extent table")
		lo := h.ext.page*uint64(c.sb.PageSize) + objHeaderSize + 8*uint64(h.ext.slot)
		c.slots = append(c.slots, used{lo, lo + 8*uint64(len(h.shape)), fmt.Sprintf("extent slot of %q", path)})
	}
	st := indexStore{f}
	kind, n := chunkindex.KindFixed, h.fixedChunks()
	if h.extensible() {
		kind, n = chunkindex.KindExtensible, 0
	}
	if !h.single() {
		exts, err := chunkindex.Check(st, h.index, kind, n)
		if err != nil {
			c.fail(fmt.Errorf("dataset %q: chunk index: %w", path, err))
			return
		}
		for _, x := range exts {
			c.pages(x.Page, uint64(x.NPages), "chunk index of %q", path)
		}
	}
	ds := &Dataset{f: f, path: path, at: at, h: h}
	idx, err := ds.index()
	if err != nil {
		c.fail(err)
		return
	}
	if h.extensible() {
		// No record past the chunk rows of the shape.
		limit := ceilDiv(h.shape[0], h.chunk[0])
		for i := 1; i < len(h.max); i++ {
			hi, lo := bits.Mul64(limit, ceilDiv(h.max[i], h.chunk[i]))
			if limit = lo; hi != 0 {
				limit = Unlimited
			}
		}
		if idx.Len() > limit {
			c.fail(corrupt.Errorf("dataset %q: chunk index holds %d records, its shape %v only %d", path, idx.Len(), h.shape, limit))
		}
	}
	r := len(h.shape)
	grid := make([]uint64, r)
	for i := range grid {
		if grid[i] = ceilDiv(h.shape[i], h.chunk[i]); grid[i] == 0 {
			return
		}
	}
	size := h.chunkBytes()
	for x := make([]uint64, r); x[0] < grid[0]; {
		rec, err := idx.Get(h.linear(x))
		if err == nil {
			err = ds.checkRecord(rec, size, x)
		}
		if err != nil {
			c.fail(fmt.Errorf("dataset %q: %w", path, err))
			return
		}
		c.used = append(c.used, used{rec.Addr, rec.Addr + rec.Size, fmt.Sprintf("chunk %v of %q", x, path)})
		for i := r - 1; i >= 0; i-- {
			if x[i]++; x[i] < grid[i] || i == 0 {
				break
			}
			x[i] = 0
		}
	}
}

// shared counts the one-page object at page (an extent table or a header
// block) as used, once however many datasets have a share of it.
func (c *checker) shared(page uint64, what string) {
	if !c.seen[page] {
		c.seen[page] = true
		c.pages(page, 1, "%s", what)
	}
}

// overlaps reports objects (or slots) beyond the end of allocation or
// overlapping.
func (c *checker) overlaps(us []used) {
	end := c.sb.EOA * uint64(c.sb.PageSize)
	slices.SortFunc(us, func(a, b used) int { return cmp.Compare(a.lo, b.lo) })
	var far used // the object reaching furthest so far
	for _, u := range us {
		if u.hi > end {
			c.fail(corrupt.Errorf("%s [%d, %d) beyond the end of allocation %d", u.what, u.lo, u.hi, end))
		}
		if far.hi > u.lo {
			c.fail(corrupt.Errorf("%s [%d, %d) overlaps %s [%d, %d)", far.what, far.lo, far.hi, u.what, u.lo, u.hi))
		}
		if u.hi > far.hi {
			far = u
		}
	}
}
