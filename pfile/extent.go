package pfile

import (
	"encoding/binary"
	"fmt"

	"pwstore/internal/storage/corrupt"
)

// Extent tables hold the current shapes of datasets whose headers are of
// version 2: growing a dataset changes its slot, not its header, so a pass
// of appends over many datasets dirties one shared page per table instead
// of one header page per dataset. Slots are handed out in creation order
// and never freed (datasets are never deleted), so every rank of a
// parallel writer gives the same dataset the same slot.

// extTable is a decoded extent table. A writer's is authoritative and never
// dropped: vals has the page's whole capacity, so appending a slot never
// moves it, and the headers' shapes are sub-slices of it. A reader's is a
// cache of the page, dropped when the page is evicted.
type extTable struct {
	vals []uint64
	enc  func() []byte // the writer's encoder, made once
	lazy uint64        // DeferSeal: File.seals+1 while the table is in File.dirty
}

// extCapacity is how many u64 slots one table page holds.
func extCapacity(pageSize int) int { return (pageSize - objHeaderSize) / 8 }

func (t *extTable) encode() []byte {
	b := make([]byte, 8*len(t.vals))
	for i, v := range t.vals {
		binary.LittleEndian.PutUint64(b[8*i:], v)
	}
	return b
}

// decodeExtent decodes an extent table payload: whole u64 slots, no more
// than a page holds.
func decodeExtent(p []byte, pageSize int) ([]uint64, error) {
	if len(p)%8 != 0 || len(p)/8 > extCapacity(pageSize) {
		return nil, corrupt.Errorf("extent table: %d bytes is not a whole number of slots of at most %d", len(p), extCapacity(pageSize))
	}
	vals := make([]uint64, len(p)/8, extCapacity(pageSize))
	for i := range vals {
		vals[i] = binary.LittleEndian.Uint64(p[8*i:])
	}
	return vals, nil
}

// table returns the decoded extent table at page.
func (f *File) table(page uint64) (*extTable, error) {
	if t, ok := f.tables[page]; ok {
		return t, nil
	}
	p, _, err := f.readObject(magicExtent, ref{page, 1})
	if err != nil {
		return nil, err
	}
	vals, err := decodeExtent(p, f.sb.PageSize)
	if err != nil {
		return nil, fmt.Errorf("extent table at page %d: %w", page, err)
	}
	t := &extTable{vals: vals}
	f.tables[page] = t
	return t, nil
}

// newSlot gives a new dataset a slot holding shape, in the open table if it
// has room, else in a new one, and returns the slot and its table.
func (f *File) newSlot(shape []uint64) (ext, *extTable, error) {
	var t *extTable
	if f.sb.Extents != 0 {
		var err error
		if t, err = f.table(f.sb.Extents); err != nil {
			return ext{}, nil, err
		}
		if len(t.vals)+len(shape) > cap(t.vals) {
			t = nil
		}
	}
	if t == nil {
		f.sb.Extents = f.allocMeta(1)
		t = &extTable{vals: make([]uint64, 0, extCapacity(f.sb.PageSize))}
		f.tables[f.sb.Extents] = t
	}
	x := ext{page: f.sb.Extents, slot: uint32(len(t.vals))}
	t.vals = append(t.vals, shape...)
	return x, t, f.touchTable(x.page, t)
}

// touchTable puts a changed table in line to be written: with DeferSeal
// once between seals (the encoder reads the slots as they are then).
func (f *File) touchTable(page uint64, t *extTable) error {
	if f.deferSeal && t.lazy == f.seals+1 {
		return nil
	}
	if t.enc == nil {
		t.enc = t.encode
	}
	if err := f.writeObjectLazy(kindExtent, page, 1, t.enc); err != nil {
		return err
	}
	t.lazy = f.seals + 1
	return nil
}

// slotShape finds h's shape in its extent table: a writer's header shares
// the table's slots, a reader's gets a copy. The shape is checked against
// the rest of the header as decodeHeader checks a version 1 shape.
func (f *File) slotShape(h *header) (*extTable, error) {
	t, err := f.table(h.ext.page)
	if err != nil {
		return nil, err
	}
	r := uint64(len(h.max))
	if uint64(h.ext.slot)+r > uint64(len(t.vals)) {
		return nil, corrupt.Errorf("dataset %q: extent slot %d of rank %d beyond the %d slots of the table at page %d", h.path, h.ext.slot, r, len(t.vals), h.ext.page)
	}
	s := t.vals[h.ext.slot : uint64(h.ext.slot)+r : uint64(h.ext.slot)+r]
	if f.ro {
		s = append([]uint64(nil), s...)
	}
	n := *h
	n.shape = s
	if err := n.checkShape(f.eoa(), f.sb.PageSize); err != nil {
		return nil, fmt.Errorf("dataset %q: %w", h.path, err)
	}
	h.shape = s
	return t, nil
}
