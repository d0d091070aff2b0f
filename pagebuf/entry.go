package pagebuf

// entry is one page or multi-page entry held by the buffer.
type entry struct {
	page   uint64
	npages int
	data   []byte // owned by the buffer; replaced, never modified in place
	// zeros is how many bytes at the end of data the writer vouched are
	// zeros (WriteUsed), handed on with the change (Change.Zeros).
	zeros int

	dirty  bool
	inFile bool // a version exists in the data file (loaded, written back, or fresh=false)
	onTick bool // changed in the current tick (on the tick list)
	on     where
	// writeAt is the first tick at which the dirty image may be written to
	// the data file (SWMRWriter); the DWL is ordered by it.
	writeAt uint64

	htNext *entry // hash chain
	idx    link   // index list
	rep    link   // LRU or DWL (an entry is on at most one)
	tick   link   // tick list
}

// where says which replacement list holds an entry.
type where uint8

const (
	onNone where = iota
	onLRU
	onDWL
)

func (w where) String() string {
	switch w {
	case onLRU:
		return "LRU"
	case onDWL:
		return "DWL"
	}
	return "none"
}

type link struct{ prev, next *entry }

// linkKind names which link field of an entry a list threads through.
type linkKind uint8

const (
	viaIdx linkKind = iota
	viaRep
	viaTick
)

// list is an intrusive doubly linked list of entries that also counts the
// pages its entries hold.
type list struct {
	head, tail *entry
	len        int
	pages      int
	via        linkKind
}

func (l *list) link(e *entry) *link {
	switch l.via {
	case viaRep:
		return &e.rep
	case viaTick:
		return &e.tick
	}
	return &e.idx
}

func (l *list) pushHead(e *entry) {
	k := l.link(e)
	k.prev, k.next = nil, l.head
	if l.head != nil {
		l.link(l.head).prev = e
	} else {
		l.tail = e
	}
	l.head = e
	l.len++
	l.pages += e.npages
}

func (l *list) pushTail(e *entry) {
	l.insertAfter(e, l.tail)
}

// insertAfter links e after at (at == nil: at the head).
func (l *list) insertAfter(e, at *entry) {
	if at == nil {
		l.pushHead(e)
		return
	}
	k, ka := l.link(e), l.link(at)
	k.prev, k.next = at, ka.next
	if ka.next != nil {
		l.link(ka.next).prev = e
	} else {
		l.tail = e
	}
	ka.next = e
	l.len++
	l.pages += e.npages
}

func (l *list) remove(e *entry) {
	k := l.link(e)
	if k.prev != nil {
		l.link(k.prev).next = k.next
	} else {
		l.head = k.next
	}
	if k.next != nil {
		l.link(k.next).prev = k.prev
	} else {
		l.tail = k.prev
	}
	k.prev, k.next = nil, nil
	l.len--
	l.pages -= e.npages
}

func (l *list) moveToHead(e *entry) {
	if l.head == e {
		return
	}
	l.remove(e)
	l.pushHead(e)
}
