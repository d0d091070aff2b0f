package chunkindex

// Store is the page interface the index reads and writes through. pfile
// implements it on top of the page buffer; a reader's Store may refuse
// Write and Alloc, since Get only reads.
type Store interface {
	// Read returns the image of npages pages at page. The slice belongs to
	// the buffer: the index never modifies it, and neither may the Store
	// (Write replaces an image, never changes one in place): the index
	// keeps the decoded root of the last image it read.
	Read(page uint64, npages int) ([]byte, error)
	// Write replaces the pages at page with data (len = npages*PageSize())
	// and takes ownership of data. fresh is true exactly on the first
	// write of a page after its Alloc.
	Write(page uint64, data []byte, fresh bool) error
	// Alloc returns npages consecutive unused pages. It is deterministic.
	Alloc(npages int) (page uint64, err error)
	// Release gives pages back; the allocator delays their reuse.
	Release(page uint64, npages int)
	// PageSize is the page size in bytes.
	PageSize() int
}

// Owner is an optional Store interface. A Store whose Owns reports true
// has its index pages changed only through the indexes over it (a
// writer's): an index then keeps its decoded root in memory and reads it
// from the Store once, not on every lookup.
type Owner interface {
	Owns() bool
}

func owns(st Store) bool {
	o, ok := st.(Owner)
	return ok && o.Owns()
}

// Record locates one chunk in the data file. Addr 0 means "no chunk".
type Record struct {
	Addr uint64 // byte offset of the chunk in the data file
	Size uint64 // bytes stored for the chunk
}

// Index is what both kinds of chunk index offer.
type Index interface {
	// Get returns record i, or the zero Record if it was never set.
	Get(i uint64) (Record, error)
	// Set stores record i.
	Set(i uint64, r Record) error
	// Len is one past the highest index ever set (Extensible) or the
	// number of chunks (Fixed).
	Len() uint64
	// Root is the page of the index's root block; it never changes.
	Root() uint64
}

// Kind says which chunk index a root belongs to.
type Kind uint8

const (
	// KindExtensible is an extensible array (unlimited first dimension).
	KindExtensible Kind = 1 // Frozen: callers may store it on disk
	// KindFixed is a fixed array (number of chunks known at creation).
	KindFixed Kind = 2 // Frozen: callers may store it on disk
)

func (k Kind) String() string {
	switch k {
	case KindExtensible:
		return "extensible"
	case KindFixed:
		return "fixed"
	}
	return "unknown kind"
}

// Extent is a run of pages an index occupies.
type Extent struct {
	Page   uint64
	NPages int
}
