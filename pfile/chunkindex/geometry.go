package chunkindex

import (
	"fmt"
	"math"
	"math/bits"
)

// Frozen: format constants shared by all blocks.
const (
	formatVersion = 1       // Frozen: version byte of every block
	minPageSize   = 512     // Frozen: smallest supported page size
	maxPageSize   = 1 << 20 // Frozen: largest supported page size
	sumSize       = 8       // Frozen: xxhash64 at the end of every block
	recordSize    = 16      // Frozen: {addr u64, size u64}
	pointerSize   = 8       // Frozen: data page pointer
	extentSize    = 12      // Frozen: {start u64, hwm u32}

	rootHeader  = 48 // Frozen: root bytes before the extent table
	superHeader = 24 // Frozen: super page bytes before the pointers
	dataHeader  = 32 // Frozen: data page bytes before the records

	extensibleExtents = 32 // Frozen: extents of an extensible array
	fixedExtents      = 1  // Frozen: extents of a fixed array
)

// geometry is what the page size and kind imply about every block.
type geometry struct {
	kind     Kind
	pageSize int
	extents  int    // S: entries in the root's extent table
	direct   int    // D: records stored in the root
	perSuper int    // E: data page pointers per super page
	perData  int    // R: records per data page
	perPage  uint64 // E*R: records reachable from one super page
}

func newGeometry(pageSize int, kind Kind) (geometry, error) {
	if pageSize < minPageSize || pageSize > maxPageSize || pageSize&(pageSize-1) != 0 {
		return geometry{}, fmt.Errorf("%w: %d", ErrPageSize, pageSize)
	}
	g := geometry{kind: kind, pageSize: pageSize}
	switch kind {
	case KindExtensible:
		g.extents = extensibleExtents
	case KindFixed:
		g.extents = fixedExtents
	default:
		return geometry{}, fmt.Errorf("chunkindex: unknown kind %d", kind)
	}
	g.direct = (pageSize - rootHeader - extentSize*g.extents - sumSize) / recordSize
	g.perSuper = (pageSize - superHeader - sumSize) / pointerSize
	g.perData = (pageSize - dataHeader - sumSize) / recordSize
	g.perPage = uint64(g.perSuper) * uint64(g.perData)
	return g, nil
}

// fixedPages is the number of super pages a fixed array of n chunks needs in
// its one extent, and whether that fits the format (a u32 hwm).
func (g geometry) fixedPages(n uint64) (int, bool) {
	if n <= uint64(g.direct) {
		return 0, true
	}
	rest := n - uint64(g.direct)
	pages := rest / g.perPage
	if rest%g.perPage != 0 {
		pages++
	}
	if pages > math.MaxUint32 {
		return 0, false
	}
	return int(pages), true
}

// extentPages is the size of extent s. n matters for Fixed only.
func (g geometry) extentPages(s int, n uint64) int {
	if g.kind == KindFixed {
		p, _ := g.fixedPages(n)
		return p
	}
	return 1 << s
}

// slot says where record i lives.
type slot struct {
	direct bool
	d      int    // direct slot in the root
	s      int    // extent
	j      int    // super page inside the extent
	k      int    // pointer inside the super page
	r      int    // record inside the data page
	first  uint64 // chunk number of the data page's slot 0
}

// locate maps record i to its slot; false when the array cannot hold i.
// For Fixed, the caller has checked i < n.
func (g geometry) locate(i uint64) (slot, bool) {
	if i < uint64(g.direct) {
		return slot{direct: true, d: int(i)}, true
	}
	rel := i - uint64(g.direct)
	page := rel / g.perPage
	in := rel % g.perPage
	sl := slot{
		k:     int(in / uint64(g.perData)),
		r:     int(in % uint64(g.perData)),
		first: i - in%uint64(g.perData),
	}
	if g.kind == KindFixed {
		if page > math.MaxUint32 {
			return slot{}, false
		}
		sl.j = int(page)
		return sl, true
	}
	s := bits.Len64(page+1) - 1
	if s >= g.extents {
		return slot{}, false
	}
	sl.s = s
	sl.j = int(page + 1 - 1<<s)
	return sl, true
}

// firstOf is the chunk number of slot 0 of the data page behind pointer k
// of super page j in extent s; false when it is past the uint64 range (such
// a page can never be reached by a Set).
func (g geometry) firstOf(s, j, k int) (uint64, bool) {
	page := uint64(j)
	if g.kind == KindExtensible {
		page += 1<<s - 1
	}
	hi, lo := bits.Mul64(page, g.perPage)
	if hi != 0 {
		return 0, false
	}
	lo, carry := bits.Add64(lo, uint64(g.direct)+uint64(k)*uint64(g.perData), 0)
	return lo, carry == 0
}
