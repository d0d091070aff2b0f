package pfile

import "fmt"

// The free list is persisted only at Close (in memory it is the
// allocator's), as one object the superblock points at:
//
//	count u32, then count x (page u64, pages u64), sorted, coalesced
//
// Its own pages come from the end of allocation, so writing it does not
// change the list it records; a writer that opens the file takes the list
// over and frees the object's pages.

func (f *File) saveFreeList() error {
	f.al.dropIndexBlock()
	free := f.al.allFree()
	if len(free) == 0 {
		return nil
	}
	var e enc
	e.u32(uint32(len(free)))
	for _, x := range free {
		e.u64(x.page)
		e.u64(x.n)
	}
	np := pagesFor(len(e.b), f.sb.PageSize)
	page := f.al.eoa
	f.al.eoa += uint64(np)
	f.fresh[page] = true
	if err := f.writeObject(kindFree, page, np, e.b); err != nil {
		return err
	}
	f.sb.FreeList, f.sb.FreePages = page, uint32(np)
	return nil
}

func (f *File) loadFreeList(r ref) ([]extent, error) {
	p, _, err := f.readObject(magicFree, r)
	if err != nil {
		return nil, fmt.Errorf("free list: %w", err)
	}
	free, err := decodeFreeList(p, f.eoa())
	if err != nil {
		return nil, fmt.Errorf("free list at page %d: %w", r.page, err)
	}
	return free, nil
}

// decodeFreeList decodes a free-list payload: extents in [1, eoa), sorted
// and not touching.
func decodeFreeList(p []byte, eoa uint64) ([]extent, error) {
	d := dec{b: p, what: "free list"}
	n := d.u32("count")
	if d.err == nil && uint64(n)*16 != uint64(len(p)-4) {
		d.fail("count %d for %d bytes", n, len(p))
	}
	var free []extent
	for i := uint32(0); i < n && d.err == nil; i++ {
		x := extent{d.u64("page"), d.u64("pages")}
		switch {
		case d.err != nil:
		case x.page < 1 || x.n == 0 || x.page >= eoa || x.n > eoa-x.page:
			d.fail("extent %d+%d outside [1, %d)", x.page, x.n, eoa)
		case i > 0 && x.page <= free[i-1].page+free[i-1].n:
			d.fail("extent %d+%d overlaps or touches the one before", x.page, x.n)
		}
		free = append(free, x)
	}
	if err := d.done(); err != nil {
		return nil, err
	}
	return free, nil
}
