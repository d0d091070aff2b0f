package pfile

import (
	"fmt"
	"math/bits"
	"sort"
	"unicode/utf8"

	"pwstore/internal/storage/corrupt"
)

// Unlimited as a max-shape dimension (the first one only) lets the dataset
// grow along it without bound.
const Unlimited = ^uint64(0)

// Limits on dataset shapes.
const (
	MaxRank       = 8       // dimensions per dataset
	MaxChunkBytes = 1 << 31 // bytes per chunk
	maxFixedChunk = 1 << 32 // chunks a dataset may have (fixed: at its max shape)
)

// Spec describes a dataset at creation.
type Spec struct {
	Type  Type
	Shape []uint64 // initial shape
	// MaxShape bounds Shape; nil means Shape (a fixed-shape dataset).
	// MaxShape[0] may be Unlimited, no other dimension may.
	MaxShape []uint64
	// Chunk is the chunk shape. nil means one chunk of MaxShape (each zero
	// dimension taken as 1); it is required with an Unlimited dimension.
	Chunk []uint64
}

// Frozen: chunk index kinds stored in dataset headers. A single-chunk
// header (version 3 only) holds chunk 0's byte address where the others
// hold the index root's page.
const (
	indexExtensible = 1
	indexFixed      = 2
	indexSingle     = 3
)

// attr is one attribute; a header keeps them sorted by name.
type attr struct {
	name string
	val  Value
}

// header is a decoded dataset header.
type header struct {
	path  string
	typ   Type
	shape []uint64 // current shape: in the header (version 1) or from its extent slot
	max   []uint64
	chunk []uint64
	ext   ext    // version 2 and 3: where the shape lives; zero: in the header
	index uint64 // chunk index root page; 0: single chunk (version 3)
	addr0 uint64 // single chunk: chunk 0's byte address, 0 while it has no space
	attrs []attr
}

// ext is a dataset's slot in an extent table: rank u64s from slot on.
type ext struct {
	page uint64
	slot uint32
}

// kind is the frame h is written in: version 2 with an extent slot, 3
// if it is also a single chunk's.
func (h *header) kind() objKind {
	switch {
	case h.ext.page == 0:
		return objKind{magicDataset, headerV1}
	case h.index == 0:
		return objKind{magicDataset, headerV3}
	}
	return objKind{magicDataset, headerV2}
}

// single says that h has no chunk index but holds chunk 0's address: a
// dataset whose shape has never covered another chunk.
func (h *header) single() bool { return h.index == 0 }

// normalize checks a spec and fills in its defaults; it returns a copy.
func (s Spec) normalize() (Spec, error) {
	bad := func(format string, args ...any) (Spec, error) {
		return Spec{}, fmt.Errorf("dataset spec: %s: %w", fmt.Sprintf(format, args...), ErrBadSpec)
	}
	if !s.Type.valid() || s.Type.Kind == KindString {
		return bad("element type %v cannot be stored in a dataset", s.Type)
	}
	r := len(s.Shape)
	if r < 1 || r > MaxRank {
		return bad("rank %d outside [1, %d]", r, MaxRank)
	}
	n := Spec{Type: s.Type, Shape: append([]uint64(nil), s.Shape...)}
	if s.MaxShape == nil {
		n.MaxShape = append([]uint64(nil), s.Shape...)
	} else {
		n.MaxShape = append([]uint64(nil), s.MaxShape...)
	}
	if len(n.MaxShape) != r {
		return bad("max shape has rank %d, shape %d", len(n.MaxShape), r)
	}
	for i, m := range n.MaxShape {
		if m == Unlimited && i > 0 {
			return bad("dimension %d unlimited: only the first may be", i)
		}
		if n.Shape[i] > m {
			return bad("shape %v beyond max shape %v", n.Shape, n.MaxShape)
		}
	}
	if s.Chunk == nil {
		if n.MaxShape[0] == Unlimited {
			return bad("a chunk shape is required with an unlimited dimension")
		}
		n.Chunk = make([]uint64, r)
		for i, m := range n.MaxShape {
			n.Chunk[i] = max(m, 1)
		}
	} else {
		n.Chunk = append([]uint64(nil), s.Chunk...)
	}
	if len(n.Chunk) != r {
		return bad("chunk shape has rank %d, shape %d", len(n.Chunk), r)
	}
	if err := checkGeometry(n.Type, n.MaxShape, n.Chunk); err != nil {
		return bad("%v", err)
	}
	return n, nil
}

// checkGeometry checks a chunk shape against a max shape: positive chunk
// dimensions, a chunk of at most MaxChunkBytes, and a chunk grid whose
// linear numbering does not overflow.
func checkGeometry(t Type, maxShape, chunk []uint64) error {
	bytes := uint64(t.Size())
	for i, c := range chunk {
		if c == 0 {
			return fmt.Errorf("chunk dimension %d is zero", i)
		}
		hi, lo := bits.Mul64(bytes, c)
		if hi != 0 || lo > MaxChunkBytes {
			return fmt.Errorf("chunk %v of %v is over %d bytes", chunk, t, MaxChunkBytes)
		}
		bytes = lo
	}
	grid := uint64(1)
	for i := len(maxShape) - 1; i >= 0; i-- {
		if maxShape[i] == Unlimited {
			continue
		}
		hi, lo := bits.Mul64(grid, ceilDiv(maxShape[i], chunk[i]))
		if hi != 0 || lo > maxFixedChunk {
			return fmt.Errorf("max shape %v in chunks %v gives more than %d chunks", maxShape, chunk, uint64(maxFixedChunk))
		}
		grid = lo
	}
	return nil
}

func ceilDiv(a, b uint64) uint64 {
	if a == 0 {
		return 0
	}
	return (a-1)/b + 1
}

func (h *header) extensible() bool { return h.max[0] == Unlimited }

// chunkBytes is the size of every chunk (edge chunks are stored whole).
func (h *header) chunkBytes() uint64 {
	b := uint64(h.typ.Size())
	for _, c := range h.chunk {
		b *= c
	}
	return b
}

// fixedChunks is the number of chunks of a fixed dataset at its max shape.
func (h *header) fixedChunks() uint64 {
	n := uint64(1)
	for i := range h.max {
		n *= ceilDiv(h.max[i], h.chunk[i])
	}
	return n
}

// linear numbers a chunk by its coordinates in the max-shape chunk grid:
// c0 * prod(grid[1:]) + ... + c[r-1].
func (h *header) linear(c []uint64) uint64 {
	var lin uint64
	for i := range c {
		g := uint64(1)
		if i > 0 {
			g = ceilDiv(h.max[i], h.chunk[i])
		}
		lin = lin*g + c[i]
	}
	return lin
}

func (h *header) findAttr(name string) (int, bool) {
	i := sort.Search(len(h.attrs), func(i int) bool { return h.attrs[i].name >= name })
	return i, i < len(h.attrs) && h.attrs[i].name == name
}

// size is the length of h's encoding.
func (h *header) size() int {
	n := 2 + len(h.path) + 1 + 4 + 1 + 24*len(h.max) + 1 + 8 + 4
	if h.ext.page != 0 {
		n += 12 - 8*len(h.max) // the slot instead of the shape
	}
	for _, a := range h.attrs {
		n += 2 + len(a.name) + 1 + 4 + 4 + len(a.val.Data)
	}
	return n
}

// encode encodes h into one allocation of its size: a writer encodes
// every changed header at every end of tick.
func (h *header) encode() []byte {
	e := enc{b: make([]byte, 0, h.size())}
	h.put(&e)
	return e.b
}

// put appends h's encoding to e.
func (h *header) put(e *enc) {
	e.str16(h.path)
	e.u8(uint8(h.typ.Kind))
	e.u32(uint32(h.typ.Len))
	e.u8(uint8(len(h.max)))
	for i := range h.max {
		if h.ext.page == 0 {
			e.u64(h.shape[i])
		}
		e.u64(h.max[i])
		e.u64(h.chunk[i])
	}
	if h.ext.page != 0 {
		e.u64(h.ext.page)
		e.u32(h.ext.slot)
	}
	switch {
	case h.single():
		e.u8(indexSingle)
		e.u64(h.addr0)
	case h.extensible():
		e.u8(indexExtensible)
		e.u64(h.index)
	default:
		e.u8(indexFixed)
		e.u64(h.index)
	}
	e.u32(uint32(len(h.attrs)))
	for _, a := range h.attrs {
		e.str16(a.name)
		e.u8(uint8(a.val.Type.Kind))
		e.u32(uint32(a.val.Type.Len))
		e.u32(uint32(len(a.val.Data)))
		e.b = append(e.b, a.val.Data...)
	}
}

// decodeHeader decodes a dataset header payload of the given version. eoa
// (pages) bounds the chunk index and extent table addresses and, since
// every chunk of the current shape has space, the number of chunks times
// their size. A version 2 header comes back without its shape (slotShape
// finds it).
func decodeHeader(p []byte, version uint16, eoa uint64, pageSize int) (*header, error) {
	d := dec{b: p, what: "dataset header"}
	h := &header{path: d.str16("path")}
	h.typ = Type{Kind: Kind(d.u8("type kind")), Len: int(d.u32("type length"))}
	r := int(d.u8("rank"))
	if d.err == nil && (r < 1 || r > MaxRank) {
		d.fail("rank %d", r)
	}
	if d.err == nil {
		h.max, h.chunk = make([]uint64, r), make([]uint64, r)
		if version == headerV1 {
			h.shape = make([]uint64, r)
		}
		for i := 0; i < r; i++ {
			if version == headerV1 {
				h.shape[i] = d.u64("shape")
			}
			h.max[i], h.chunk[i] = d.u64("max shape"), d.u64("chunk")
		}
	}
	if version != headerV1 {
		h.ext = ext{page: d.u64("extent table"), slot: d.u32("extent slot")}
	}
	kind := d.u8("index kind")
	if kind == indexSingle {
		h.addr0 = d.u64("chunk 0 address")
	} else {
		h.index = d.u64("index address")
	}
	na := d.u32("attribute count")
	if d.err == nil && na > MaxAttrs {
		d.fail("%d attributes", na)
	}
	for i := uint32(0); i < na && d.err == nil; i++ {
		var a attr
		a.name = d.str16("attribute name")
		a.val.Type = Type{Kind: Kind(d.u8("attribute kind")), Len: int(d.u32("attribute type length"))}
		n := d.u32("attribute length")
		if d.err == nil && n > MaxValueLen {
			d.fail("attribute %q length %d", a.name, n)
		}
		a.val.Data = append([]byte(nil), d.take(int(n), "attribute value")...)
		if d.err == nil {
			if err := a.val.check(); err != nil {
				d.fail("attribute %q: %v", a.name, err)
			}
			if i > 0 && a.name <= h.attrs[i-1].name {
				d.fail("attribute %q out of order", a.name)
			}
		}
		h.attrs = append(h.attrs, a)
	}
	if err := d.done(); err != nil {
		return nil, err
	}
	switch {
	case !utf8.ValidString(h.path) || h.path == "":
		d.fail("path %q", h.path)
	case !h.typ.valid() || h.typ.Kind == KindString:
		d.fail("element type %v", h.typ)
	case (kind == indexSingle) != (version == headerV3):
		d.fail("chunk index kind %d in a version %d header", kind, version)
	case kind != indexSingle && (h.index < 1 || h.index >= eoa):
		d.fail("chunk index at page %d outside [1, %d)", h.index, eoa)
	case kind != indexSingle && ((kind == indexExtensible) != h.extensible() || (kind != indexExtensible && kind != indexFixed)):
		d.fail("chunk index kind %d for max shape %v", kind, h.max)
	case version != headerV1 && (h.ext.page < 1 || h.ext.page >= eoa):
		d.fail("extent table at page %d outside [1, %d)", h.ext.page, eoa)
	}
	for i := range h.max {
		if d.err == nil && i > 0 && h.max[i] == Unlimited {
			d.fail("max shape %v unlimited past the first dimension", h.max)
		}
	}
	if d.err == nil {
		if err := checkGeometry(h.typ, h.max, h.chunk); err != nil {
			d.fail("%v", err)
		}
	}
	// The chunk's size is bounded now; its record is checked again before
	// any I/O trusts it (checkRecord).
	hi, end := bits.Mul64(eoa, uint64(pageSize))
	if hi != 0 {
		end = ^uint64(0)
	}
	if d.err == nil && h.addr0 != 0 && (h.addr0 < uint64(pageSize) || h.addr0 > end || h.chunkBytes() > end-h.addr0) {
		d.fail("chunk 0 at byte %d (%d bytes) outside [%d, %d)", h.addr0, h.chunkBytes(), pageSize, end)
	}
	if d.err != nil {
		return nil, d.err
	}
	if version == headerV1 {
		if err := h.checkShape(eoa, pageSize); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// checkShape checks the current shape against the max shape and, since
// every chunk of it has space, its chunks' bytes against the file's eoa
// pages.
func (h *header) checkShape(eoa uint64, pageSize int) error {
	for i := range h.shape {
		if h.shape[i] > h.max[i] {
			return corrupt.Errorf("dataset header: shape %v against max shape %v", h.shape, h.max)
		}
	}
	hi, lo := bits.Mul64(h.shapeChunks(), h.chunkBytes())
	if hi != 0 || lo > eoa*uint64(pageSize) {
		return corrupt.Errorf("dataset header: shape %v in chunks %v needs more space than the file's %d pages", h.shape, h.chunk, eoa)
	}
	return nil
}

// shapeChunks is the number of chunks covering the current shape, or
// Unlimited if that overflows.
func (h *header) shapeChunks() uint64 {
	n := uint64(1)
	for i := range h.shape {
		hi, lo := bits.Mul64(n, ceilDiv(h.shape[i], h.chunk[i]))
		if hi != 0 {
			return Unlimited
		}
		n = lo
	}
	return n
}
