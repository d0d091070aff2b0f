package chunkindex

// data is a validated data page: R consecutive chunk records.
type data struct {
	b    []byte
	g    geometry
	page uint64
}

const (
	dataCount    = 8  // Frozen: u32
	dataReserved = 12 // Frozen: u32, zero
	dataOwner    = 16 // Frozen: u64
	dataFirst    = 24 // Frozen: u64
)

func newData(g geometry, owner, first, page uint64) data {
	b := newBlock(g.pageSize, magicData)
	le.PutUint64(b[dataOwner:], owner)
	le.PutUint64(b[dataFirst:], first)
	return data{b: b, g: g, page: page}
}

// decodeData validates the data page image b read from page, expected to
// hold chunks first.. of the index rooted at owner.
func decodeData(b []byte, g geometry, page, owner, first uint64) (data, error) {
	const what = "chunk index data page"
	if err := validate(b, g.pageSize, magicData, what, page); err != nil {
		return data{}, err
	}
	if o := le.Uint64(b[dataOwner:]); o != owner {
		return data{}, mismatchErr(what, page, "belongs to the index at page %d, want %d", o, owner)
	}
	if f := le.Uint64(b[dataFirst:]); f != first {
		return data{}, mismatchErr(what, page, "holds chunks from %d, want %d", f, first)
	}
	if le.Uint32(b[dataReserved:]) != 0 {
		return data{}, boundsErr(what, page, "reserved field not zero")
	}
	d := data{b: b, g: g, page: page}
	n := d.count()
	if n < 1 || n > g.perData {
		return data{}, boundsErr(what, page, "count %d of %d slots", n, g.perData)
	}
	if !zeroFrom(b, d.off(n), g.pageSize-sumSize) {
		return data{}, boundsErr(what, page, "unused slots or padding not zero")
	}
	return d, nil
}

func (d data) off(r int) int { return dataHeader + recordSize*r }

func (d data) count() int { return int(le.Uint32(d.b[dataCount:])) }

func (d data) record(r int) Record { return getRecord(d.b, d.off(r)) }

// set stores record r and raises the count past it.
func (d data) set(r int, rec Record) {
	putRecord(d.b, d.off(r), rec)
	if r >= d.count() {
		le.PutUint32(d.b[dataCount:], uint32(r+1))
	}
}
