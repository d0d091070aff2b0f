package chunkindex

import (
	"cmp"
	"fmt"
	"slices"

	"pwstore/internal/storage/corrupt"
)

// Check verifies every block reachable from root (magic, version, checksum,
// bounds, owner and position) and returns every extent the index occupies,
// sorted by page: the root, each allocated extent of super pages (whole,
// written or not), each data page. Blocks of one index that overlap are
// corruption; overlaps with the rest of the file are the caller's to find.
// n is the Fixed array's number of chunks (ignored for Extensible).
func Check(st Store, root uint64, kind Kind, n uint64) (pages []Extent, err error) {
	t, r, err := open(st, kind, root, n)
	if err != nil {
		return nil, err
	}
	if kind == KindExtensible {
		if _, err := t.derivedLen(r); err != nil {
			return nil, err
		}
	}
	pages = []Extent{{Page: root, NPages: 1}}
	for s := range t.g.extents {
		start, hwm := r.extent(s)
		if start == 0 {
			continue
		}
		pages = append(pages, Extent{Page: start, NPages: t.g.extentPages(s, n)})
		for j := range hwm {
			sp, err := t.readSuper(start, s, j)
			if err != nil {
				return nil, err
			}
			for k := range t.g.perSuper {
				p := sp.pointer(k)
				if p == 0 {
					continue
				}
				first, ok := t.g.firstOf(s, j, k)
				if !ok || (kind == KindFixed && first >= n) {
					return nil, boundsErr("chunk index super page", sp.page, "pointer %d past the array", k)
				}
				d, err := t.readData(p, first)
				if err != nil {
					return nil, err
				}
				if kind == KindFixed && first+uint64(d.count()) > n {
					return nil, boundsErr("chunk index data page", p, "count %d past the fixed array's %d chunks", d.count(), n)
				}
				pages = append(pages, Extent{Page: p, NPages: 1})
			}
		}
	}
	slices.SortFunc(pages, func(a, b Extent) int { return cmp.Compare(a.Page, b.Page) })
	for i := 1; i < len(pages); i++ {
		prev := pages[i-1]
		if prev.Page+uint64(prev.NPages) > pages[i].Page {
			return nil, corrupt.Errorf("chunkindex: index at page %d: blocks at pages %d (+%d) and %d overlap: %w",
				root, prev.Page, prev.NPages, pages[i].Page, ErrBounds)
		}
	}
	return pages, nil
}

// String makes extents readable in errors and test output.
func (x Extent) String() string { return fmt.Sprintf("[%d,+%d)", x.Page, x.NPages) }
