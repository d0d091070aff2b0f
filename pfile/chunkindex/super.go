package chunkindex

// super is a validated super page: pointers to the data pages of E*R
// consecutive chunks.
type super struct {
	b    []byte
	g    geometry
	page uint64
}

const (
	superExtent = 8  // Frozen: u32
	superPos    = 12 // Frozen: u32
	superOwner  = 16 // Frozen: u64
)

func newSuper(g geometry, owner uint64, s, j int, page uint64) super {
	b := newBlock(g.pageSize, magicSuper)
	le.PutUint32(b[superExtent:], uint32(s))
	le.PutUint32(b[superPos:], uint32(j))
	le.PutUint64(b[superOwner:], owner)
	return super{b: b, g: g, page: page}
}

// decodeSuper validates the super page image b read from page, expected to
// be page j of extent s of the index rooted at owner.
func decodeSuper(b []byte, g geometry, page, owner uint64, s, j int) (super, error) {
	const what = "chunk index super page"
	if err := validate(b, g.pageSize, magicSuper, what, page); err != nil {
		return super{}, err
	}
	if o := le.Uint64(b[superOwner:]); o != owner {
		return super{}, mismatchErr(what, page, "belongs to the index at page %d, want %d", o, owner)
	}
	gs, gj := le.Uint32(b[superExtent:]), le.Uint32(b[superPos:])
	if uint64(gs) != uint64(s) || uint64(gj) != uint64(j) {
		return super{}, mismatchErr(what, page, "is page %d of extent %d, want page %d of extent %d", gj, gs, j, s)
	}
	end := superHeader + pointerSize*g.perSuper
	if !zeroFrom(b, end, g.pageSize-sumSize) {
		return super{}, boundsErr(what, page, "padding not zero")
	}
	// Pointers are checked where they are followed: the data page behind
	// one must name this index as owner and the right first chunk, and
	// Check finds pointers into other blocks of the index as overlaps.
	return super{b: b, g: g, page: page}, nil
}

func (sp super) pointer(k int) uint64 { return le.Uint64(sp.b[superHeader+pointerSize*k:]) }

func (sp super) setPointer(k int, p uint64) { le.PutUint64(sp.b[superHeader+pointerSize*k:], p) }

// last is the highest k with a data page, or -1.
func (sp super) last() int {
	for k := sp.g.perSuper - 1; k >= 0; k-- {
		if sp.pointer(k) != 0 {
			return k
		}
	}
	return -1
}
