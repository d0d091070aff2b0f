package pfile

import "sort"

// extent is a run of n pages from page.
type extent struct{ page, n uint64 }

// pendingFree is freed space waiting for its epoch to be released.
type pendingFree struct {
	extent
	epoch uint64
}

// allocator hands out data-file space. It is deterministic: its state is
// ordered slices, never maps, so the same calls give the same addresses.
//
// Metadata space comes first-fit from the free list, else from the end of
// allocation. Raw space always comes from the end of allocation: freed
// space holds old metadata bytes, and a chunk's unwritten elements must
// read as zero without any rank writing zeros (which could land after
// another rank's data). Small chunks are packed into raw blocks.
type allocator struct {
	pageSize   int
	eoa        uint64        // end of allocation, pages
	free       []extent      // reusable now; sorted by page, coalesced
	pending    []pendingFree // freed, not yet reusable; in order of freeing
	epoch      uint64        // tag for frees
	deferReuse bool          // frees wait for releaseBefore

	// The current raw block, bytes: small chunks go at rawCur until rawEnd.
	rawCur, rawEnd uint64
	// The current index block, pages: chunk-index pages go at idxCur until
	// idxEnd (allocIndex); the next block has idxNext pages.
	idxCur, idxEnd, idxNext uint64
}

// idxBlockPages is the size of the largest block of chunk-index pages.
// Blocks start at one page and double, so that a file with a few
// datasets leaves at most as many pages unused as it uses.
const idxBlockPages = 64

// rawBlockBytes is the size of a block that small chunks are packed in.
const rawBlockBytes = 64 << 10

// rawAlign aligns packed chunks.
const rawAlign = 8

func (a *allocator) alloc(n uint64) uint64 {
	for i, e := range a.free {
		if e.n < n {
			continue
		}
		p := e.page
		if e.n == n {
			a.free = append(a.free[:i], a.free[i+1:]...)
		} else {
			a.free[i] = extent{e.page + n, e.n - n}
		}
		return p
	}
	p := a.eoa
	a.eoa += n
	return p
}

// allocIndex returns a page for a chunk index (a root, a data or super
// page): from the free list as alloc would, else from the current index
// block. So the index pages of datasets created one after another lie next
// to each other, not between their headers: when their first chunks get
// space, the roots that changed reach the data file in a few long writes,
// not one write each (round robin over 10,000 datasets: 10,000).
func (a *allocator) allocIndex() uint64 {
	if len(a.free) > 0 {
		return a.alloc(1)
	}
	if a.idxCur == a.idxEnd {
		a.idxNext = min(max(2*a.idxNext, 1), idxBlockPages)
		a.idxCur = a.eoa
		a.eoa += a.idxNext
		a.idxEnd = a.eoa
	}
	a.idxCur++
	return a.idxCur - 1
}

// dropIndexBlock makes what is left of the index block free space (Close:
// the free list saved then keeps it for the file's next writer).
func (a *allocator) dropIndexBlock() {
	if a.idxCur < a.idxEnd {
		a.insertFree(extent{a.idxCur, a.idxEnd - a.idxCur})
	}
	a.idxCur, a.idxEnd = 0, 0
}

// release frees n pages at page: reusable at once, or, with deferReuse,
// once releaseBefore passes the current epoch.
func (a *allocator) release(page, n uint64) {
	if a.deferReuse {
		a.pending = append(a.pending, pendingFree{extent{page, n}, a.epoch})
		return
	}
	a.insertFree(extent{page, n})
}

// releaseBefore makes frees tagged with an epoch below e reusable.
func (a *allocator) releaseBefore(e uint64) {
	kept := a.pending[:0]
	for _, p := range a.pending {
		if p.epoch < e {
			a.insertFree(p.extent)
		} else {
			kept = append(kept, p)
		}
	}
	a.pending = kept
}

func (a *allocator) insertFree(x extent) {
	i := sort.Search(len(a.free), func(i int) bool { return a.free[i].page > x.page })
	a.free = append(a.free, extent{})
	copy(a.free[i+1:], a.free[i:])
	a.free[i] = x
	if i+1 < len(a.free) && x.page+x.n == a.free[i+1].page {
		a.free[i].n += a.free[i+1].n
		a.free = append(a.free[:i+1], a.free[i+2:]...)
	}
	if i > 0 && a.free[i-1].page+a.free[i-1].n == a.free[i].page {
		a.free[i-1].n += a.free[i].n
		a.free = append(a.free[:i], a.free[i+1:]...)
	}
}

// allFree lists every freed extent, reusable or pending, sorted and
// coalesced.
func (a *allocator) allFree() []extent {
	b := allocator{free: append([]extent(nil), a.free...)}
	for _, p := range a.pending {
		b.insertFree(p.extent)
	}
	return b.free
}

// allocRaw returns the byte offset of size bytes of fresh raw space. A
// chunk of more than half a page gets whole pages of its own; smaller ones
// are packed, rawAlign-aligned, into blocks of rawBlockBytes.
func (a *allocator) allocRaw(size uint64) uint64 {
	ps := uint64(a.pageSize)
	if size > ps/2 {
		p := a.eoa
		a.eoa += ceilDiv(size, ps)
		return p * ps
	}
	off := (a.rawCur + rawAlign - 1) &^ (rawAlign - 1)
	if a.rawEnd == 0 || off+size > a.rawEnd {
		n := max(1, rawBlockBytes/ps)
		off = a.eoa * ps
		a.eoa += n
		a.rawEnd = a.eoa * ps
	}
	a.rawCur = off + size
	return off
}
