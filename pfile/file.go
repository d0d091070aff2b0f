package pfile

import (
	"crypto/rand"
	"fmt"
	"slices"

	"pwstore/internal/storage/corrupt"
	"pwstore/vfs"
)

// Pages is how the package reads and writes every metadata page; the page
// buffer (pwstore/pagebuf) implements it. See docs/ARCHITECTURE.md.
type Pages interface {
	// Read returns the image of the entry at page, npages pages long. The
	// slice belongs to the buffer: the caller must not modify it.
	Read(page uint64, npages int) ([]byte, error)
	// Write replaces the entry at page with data (whole pages) and takes
	// ownership of data. fresh: this package allocated the space and has
	// not written it since, so no older snapshot can reach it.
	Write(page uint64, data []byte, fresh bool) error
	// WriteUsed is Write for an image whose bytes from used on are zeros
	// (an object's image after its payload), which the page buffer hands
	// on so that nothing reads the zeros again.
	WriteUsed(page uint64, data []byte, used int, fresh bool) error
	// Free drops the entry at page without writing it (its space was freed).
	Free(page uint64, npages int)
}

// DefaultPageSize is the page size Create uses when Options.PageSize is 0.
const DefaultPageSize = 4096

// DefaultRawCacheBytes bounds the chunk cache when Options.RawCacheBytes is 0.
const DefaultRawCacheBytes = 64 << 20

// Options configure Create and Open.
type Options struct {
	// PageSize: for Create, the page size (0: DefaultPageSize); for Open,
	// the page size the caller's page buffer uses (0: whatever the
	// superblock says), a mismatch being ErrPageSize.
	PageSize int
	// ID is the file identity Create writes; zero draws a random one. Every
	// rank of a parallel writer must pass the same ID.
	ID [16]byte
	// ReadOnly (Open): never write through Pages or to the data file.
	ReadOnly bool
	// DeferReuse: freed space becomes reusable only when ReleaseBefore
	// passes the epoch it was freed in (SWMR writers: a lagging reader may
	// still follow an old pointer). Without it, freed space is reusable at
	// once.
	DeferReuse bool
	// RawCacheBytes bounds the chunk cache (0: DefaultRawCacheBytes); past
	// it the oldest chunks are written back.
	RawCacheBytes int
	// DeferSeal keeps changed metadata objects (dataset headers, catalog
	// nodes, the free list, the superblock) in memory, encoded but not
	// sealed, until Seal:
	// an object changed many times in a tick is framed, checksummed and
	// handed to Pages once. The owner must call Seal before it needs the
	// pages (end of tick, sync point); Close seals too.
	DeferSeal bool
	// SoleWriter: no other process writes the data file while this File
	// is open (a one-rank writer). The chunk cache then mirrors the small
	// chunks it allocates and writes runs of them back at once, and
	// reserves a chunk's disk space before its first write; ranks of a
	// parallel writer, which write parts of the same chunks, must not set
	// it.
	SoleWriter bool
}

// File is an open data file. It is not safe for concurrent use.
type File struct {
	pages Pages
	raw   vfs.File
	ro    bool
	sb    Superblock // in memory; sb.EOA is refreshed from the allocator
	saved Superblock // as last written, to skip unchanged writes
	al    allocator
	cache *chunkCache

	fresh map[uint64]bool // metadata pages allocated and not yet written
	// dirty (DeferSeal) holds the objects written since the last Seal, by
	// page: the newest payload of each, which reads use instead of Pages.
	dirty      map[uint64]dirtyObject
	dirtyPages int // pages of the objects in dirty
	deferSeal  bool
	sbDirty    bool                     // DeferSeal: sb changed since last written; Seal writes it
	seals      uint64                   // Seal calls begun: what was put in dirty after the n-th stays there until the n+1-th
	nodes      map[uint64]*node         // decoded catalog nodes by page
	dsets      map[string]*Dataset      // datasets handed out, by path
	headers    map[uint64][]*Dataset    // the same, by header page (for Evicted; a block's page has several)
	blocks     map[uint64]*hblock       // writer: header blocks by page
	blk        *hblock                  // writer: the block new headers join while it has room
	rblocks    map[uint64][]blockHeader // reader: decoded header blocks by page, until evicted
	tables     map[uint64]*extTable     // decoded extent tables by page
	// extGen counts a reader's evictions of extent tables: a dataset whose
	// shape was read at an older generation reads it again.
	extGen uint64
	// catGen counts a reader's evictions of decoded catalog nodes: a
	// dataset found at an older generation looks its path up again.
	catGen  uint64
	sbStale bool  // reader: page 0 was evicted, re-read it before use
	err     error // sticky: a failed change left memory ahead of the pages
	closed  bool
}

func newFile(pages Pages, raw vfs.File, opts Options) *File {
	limit := opts.RawCacheBytes
	if limit <= 0 {
		limit = DefaultRawCacheBytes
	}
	return &File{
		pages: pages, raw: raw, ro: opts.ReadOnly,
		cache: newChunkCache(limit, opts.SoleWriter && !opts.ReadOnly, raw), dirty: map[uint64]dirtyObject{},
		deferSeal: opts.DeferSeal && !opts.ReadOnly,
		fresh:     map[uint64]bool{}, nodes: map[uint64]*node{},
		dsets: map[string]*Dataset{}, headers: map[uint64][]*Dataset{}, blocks: map[uint64]*hblock{}, rblocks: map[uint64][]blockHeader{},
		tables: map[uint64]*extTable{},
	}
}

// Create makes a new data file: superblock and an empty catalog. The raw
// file should be empty.
func Create(pages Pages, raw vfs.File, opts Options) (*File, error) {
	ps := opts.PageSize
	if ps == 0 {
		ps = DefaultPageSize
	}
	if !validPageSize(ps) {
		return nil, fmt.Errorf("create: page size %d is not a power of two in [%d, %d]: %w", ps, MinPageSize, MaxPageSize, ErrBadSpec)
	}
	if opts.ReadOnly {
		return nil, fmt.Errorf("create: %w", ErrReadOnly)
	}
	id := opts.ID
	if id == ([16]byte{}) {
		if _, err := rand.Read(id[:]); err != nil {
			return nil, fmt.Errorf("create: file id: %w", err)
		}
	}
	f := newFile(pages, raw, opts)
	f.al = allocator{pageSize: ps, eoa: 1, deferReuse: opts.DeferReuse}
	f.sb = Superblock{PageSize: ps, ID: id}
	f.fresh[0] = true
	root := f.allocMeta(1)
	if err := f.writeNode(root, &node{leaf: true}); err != nil {
		return nil, fmt.Errorf("create: %w", err)
	}
	f.sb.CatalogRoot = root
	if err := f.writeSuperblock(); err != nil {
		return nil, fmt.Errorf("create: %w", err)
	}
	return f, nil
}

// Open opens an existing data file through pages. A read-only file never
// writes; a writable one takes over the persisted free list.
func Open(pages Pages, raw vfs.File, opts Options) (*File, error) {
	f := newFile(pages, raw, opts)
	sb, err := f.readSuperblock(opts.PageSize)
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	if err := f.checkSize(sb); err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	f.sb, f.saved = sb, sb
	f.al = allocator{pageSize: sb.PageSize, eoa: sb.EOA, deferReuse: opts.DeferReuse}
	if sb.FreeList != 0 {
		free, err := f.loadFreeList(ref{sb.FreeList, sb.FreePages})
		if err != nil {
			return nil, fmt.Errorf("open: %w", err)
		}
		if !f.ro {
			// The list is taken over in memory; its own pages are free too.
			for _, x := range free {
				f.al.insertFree(x)
			}
			f.al.insertFree(extent{sb.FreeList, uint64(sb.FreePages)})
			f.pages.Free(sb.FreeList, int(sb.FreePages))
			f.sb.FreeList, f.sb.FreePages = 0, 0
			if err := f.writeSuperblock(); err != nil {
				return nil, fmt.Errorf("open: %w", err)
			}
		}
	}
	return f, nil
}

// readSuperblock reads page 0 through the pages and checks it against the
// page size the caller expects (0: any).
func (f *File) readSuperblock(want int) (Superblock, error) {
	if f.sbDirty { // as Seal will write it, as reads of unsealed objects do
		return f.sb, nil
	}
	img, err := f.pages.Read(0, 1)
	if err != nil {
		return Superblock{}, fmt.Errorf("read superblock: %w", err)
	}
	ps, err := sbPrefix(img)
	if err != nil {
		return Superblock{}, err
	}
	if len(img) != ps || (want != 0 && want != ps) {
		return Superblock{}, fmt.Errorf("file has %d-byte pages, the caller uses %d: %w", ps, max(want, len(img)), ErrPageSize)
	}
	return DecodeSuperblock(img)
}

// ID returns the file identity.
func (f *File) ID() [16]byte { return f.sb.ID }

// PageSize returns the page size.
func (f *File) PageSize() int { return f.sb.PageSize }

// Superblock returns the superblock as this File sees it now.
func (f *File) Superblock() Superblock {
	sb := f.sb
	if !f.ro {
		sb.EOA = f.al.eoa
	}
	return sb
}

// SetEpoch tags space freed from now on with epoch e (with DeferReuse).
func (f *File) SetEpoch(e uint64) { f.al.epoch = e }

// ReleaseBefore makes space freed in epochs before e reusable.
func (f *File) ReleaseBefore(e uint64) { f.al.releaseBefore(e) }

// Refresh re-reads the superblock of a read-only file (a SWMR reader
// after its page buffer adopted a new snapshot). Objects built from
// evicted pages are dropped by Evicted, not here.
func (f *File) Refresh() error {
	if err := f.usable(); err != nil {
		return err
	}
	if !f.ro {
		return nil
	}
	sb, err := f.readSuperblock(f.sb.PageSize)
	if err != nil {
		return fmt.Errorf("refresh: %w", err)
	}
	if sb.ID != f.sb.ID {
		return corrupt.Errorf("refresh: file identity changed from %x to %x", f.sb.ID, sb.ID)
	}
	if err := f.checkSize(sb); err != nil {
		return fmt.Errorf("refresh: %w", err)
	}
	f.sb, f.sbStale = sb, false
	return nil
}

// checkSize fails when the data file ends before the end of allocation
// sb gives (see CheckSize).
func (f *File) checkSize(sb Superblock) error { return CheckSize(f.raw, sb) }

// CheckSize fails, with corruption wrapping ErrTruncated, when the data
// file raw ends before the end of allocation sb gives. Everything
// allocated is in the file: a writer closes a file grown to its end of
// allocation, and a SWMR writer grows it there before it publishes a tick
// (Grow). A shorter file was cut short, and the allocated bytes past its
// end are lost, not "never written".
func CheckSize(raw vfs.File, sb Superblock) error {
	size, err := raw.Size()
	if err != nil {
		return fmt.Errorf("data file size: %w", err)
	}
	if end := sb.EOA * uint64(sb.PageSize); uint64(size) < end {
		return corrupt.Errorf("data file %s is %d bytes, shorter than its end of allocation at %d bytes: it was cut short: %w",
			raw.Name(), size, end, ErrTruncated)
	}
	return nil
}

// Evicted drops every decoded object built from the given pages (the start
// pages of evicted entries); nil means everything. The coordinator wires
// it to the page buffer's eviction hook. For a read-only file, a dataset
// whose header page was evicted (its own, or the header block holding it,
// whose decoded form is dropped too) reloads it (by path, through the
// catalog) on next use, an evicted extent table makes every dataset read its shape
// again on next use, and an evicted page 0 makes the next call re-read the
// superblock. Chunk indexes need nothing: they read every page through the
// buffer on every lookup. A writer's decoded objects are authoritative, so
// for it this only trims the node cache. A dataset whose catalog entry may
// have changed (a catalog node it was found through was evicted) looks its
// path up again on next use, and reloads its header if the entry moved.
func (f *File) Evicted(pages []uint64) {
	if pages == nil {
		clear(f.nodes)
		if f.ro {
			clear(f.tables)
			f.extGen++
			f.sbStale = true
			f.catGen++
			for _, ds := range f.dsets {
				ds.stale = true
			}
			clear(f.headers)
			clear(f.rblocks)
		}
		return
	}
	for _, p := range pages {
		if _, ok := f.nodes[p]; ok {
			delete(f.nodes, p)
			f.catGen++
		}
		if !f.ro {
			continue
		}
		if _, ok := f.tables[p]; ok {
			delete(f.tables, p)
			f.extGen++
		}
		if p == 0 {
			f.sbStale = true
			f.catGen++
		}
		delete(f.rblocks, p)
		if dss, ok := f.headers[p]; ok {
			for _, ds := range dss {
				ds.stale = true
			}
			delete(f.headers, p)
		}
	}
}

// Close writes back the chunk cache and, for a writer, persists the free
// list and writes the superblock and grows the data file to the end of
// allocation. The owner flushes the page buffer afterwards.
func (f *File) Close() error {
	if f.closed {
		return ErrClosed
	}
	if f.ro {
		f.closed = true
		return nil
	}
	if f.err != nil {
		f.closed = true
		return fmt.Errorf("close: %w", f.err)
	}
	err := f.FlushRaw()
	if err == nil {
		err = f.saveFreeList()
	}
	if err == nil {
		err = f.writeSuperblock()
	}
	if err == nil {
		err = f.Seal()
	}
	if err == nil {
		err = f.Grow()
	}
	f.closed = true
	if err != nil {
		return fmt.Errorf("close: %w", err)
	}
	return nil
}

// Grow makes the data file reach the end of allocation (it never shrinks
// it), so that a shorter file later means truncation: Close does it, and a
// SWMR writer before it publishes a tick, so that a reader can tell bytes
// cut off from bytes never written (see checkSize). Space allocated and
// never written reads as zeros.
func (f *File) Grow() error {
	if err := f.writable(); err != nil {
		return err
	}
	size, err := f.raw.Size()
	if err != nil {
		return err
	}
	if end := f.GrownSize(); size < end {
		return f.raw.Truncate(end)
	}
	return nil
}

// GrownSize is the size Grow brings the data file to: the end of
// allocation in bytes. Every rank of a parallel writer holds the same
// allocation, so after rank 0's Grow every rank knows a size below which
// the file cannot be without having been cut.
func (f *File) GrownSize() int64 {
	return int64(f.eoa()) * int64(f.sb.PageSize)
}

// usable reports a closed file or an earlier failed change.
func (f *File) usable() error {
	if f.closed {
		return ErrClosed
	}
	return f.err
}

// writable is usable plus not read-only.
func (f *File) writable() error {
	if err := f.usable(); err != nil {
		return err
	}
	if f.ro {
		return ErrReadOnly
	}
	return nil
}

// fail makes err sticky: after a change failed half way, memory may be
// ahead of the pages, so every later call reports it.
func (f *File) fail(err error) error {
	if err != nil && f.err == nil {
		f.err = fmt.Errorf("earlier change failed: %w", err)
	}
	return err
}

// fresher re-reads the superblock of a reader whose page 0 was evicted.
func (f *File) fresher() error {
	if f.sbStale {
		return f.Refresh()
	}
	return nil
}

func (f *File) allocMeta(n int) uint64 {
	p := f.al.alloc(uint64(n))
	f.fresh[p] = true
	return p
}

func (f *File) freeMeta(page uint64, n int) {
	delete(f.fresh, page)
	// Objects in dirty are keyed by their first page: look up the freed
	// pages, not every object changed since the last Seal.
	for p := page; p < page+uint64(n) && len(f.dirty) > 0; p++ {
		if o, ok := f.dirty[p]; ok {
			f.dirtyPages -= o.np
			delete(f.dirty, p)
		}
	}
	f.pages.Free(page, n)
	f.al.release(page, uint64(n))
}

// writeObject frames payload and writes it at page as an entry of np
// pages (0: as many as it needs).
func (f *File) writeObject(k objKind, page uint64, np int, payload []byte) error {
	if np == 0 {
		np = pagesFor(len(payload), f.sb.PageSize)
	}
	return f.putObject(page, dirtyObject{kind: k, np: np, payload: payload})
}

// writeObjectLazy is writeObject of an object that enc encodes from its
// decoded form when the bytes are needed (Seal, a read), so that an object
// changed many times between seals is encoded once. Without DeferSeal
// that is at once.
func (f *File) writeObjectLazy(k objKind, page uint64, np int, enc func() []byte) error {
	if !f.deferSeal {
		return f.writeObject(k, page, np, enc())
	}
	return f.putObject(page, dirtyObject{kind: k, np: np, enc: enc})
}

// putObject seals o at page, or with DeferSeal keeps it for Seal.
func (f *File) putObject(page uint64, o dirtyObject) error {
	o.fresh = f.fresh[page]
	delete(f.fresh, page)
	if !f.deferSeal {
		return f.sealObject(page, o)
	}
	if old, ok := f.dirty[page]; ok {
		o.fresh = o.fresh || old.fresh
		f.dirtyPages -= old.np
	}
	f.dirty[page] = o
	f.dirtyPages += o.np
	return nil
}

// dirtyObject is an object written since the last Seal (DeferSeal).
type dirtyObject struct {
	kind    objKind
	np      int
	payload []byte        // owned: callers hand over freshly encoded bytes
	enc     func() []byte // or this encodes them (writeObjectLazy)
	fresh   bool          // allocated and never handed to Pages
}

// bytes is o's payload, encoded now if it is lazy; an encoding grown past
// the object's pages is an error (the caller moves a growing object).
func (o dirtyObject) bytes(page uint64, pageSize int) ([]byte, error) {
	p := o.payload
	if o.enc != nil {
		p = o.enc()
	}
	if objHeaderSize+len(p) > o.np*pageSize {
		return nil, fmt.Errorf("%q object at page %d: %d bytes do not fit its %d pages", o.kind.magic[:], page, len(p), o.np)
	}
	return p, nil
}

// sealObject frames o and hands its image to Pages at page.
func (f *File) sealObject(page uint64, o dirtyObject) error {
	p, err := o.bytes(page, f.sb.PageSize)
	if err != nil {
		return err
	}
	img := seal(o.kind, page, o.np, p, f.sb.PageSize)
	if err := f.pages.WriteUsed(page, img, objHeaderSize+len(p), o.fresh); err != nil {
		return fmt.Errorf("write %q object at page %d: %w", o.kind.magic[:], page, err)
	}
	return nil
}

// Seal frames every object changed since the last Seal and hands it to
// Pages, in ascending page order, so that every rank of a parallel writer
// writes the same images in the same order. Nothing to do without
// DeferSeal. A failure fails the file (memory is ahead of the pages).
func (f *File) Seal() error {
	f.seals++
	if len(f.dirty) == 0 && !f.sbDirty {
		return nil
	}
	if err := f.usable(); err != nil {
		return err
	}
	if f.sbDirty { // page 0: first in page order
		if err := f.putSuperblock(); err != nil {
			return f.fail(fmt.Errorf("seal: %w", err))
		}
	}
	pages := make([]uint64, 0, len(f.dirty))
	for p := range f.dirty {
		pages = append(pages, p)
	}
	slices.Sort(pages)
	for _, p := range pages {
		o := f.dirty[p]
		if err := f.sealObject(p, o); err != nil {
			return f.fail(fmt.Errorf("seal: %w", err))
		}
		f.dirtyPages -= o.np
		delete(f.dirty, p)
	}
	return nil
}

// DirtyPages is the number of pages of the objects Seal would write.
func (f *File) DirtyPages() int {
	if f.sbDirty {
		return f.dirtyPages + 1
	}
	return f.dirtyPages
}

// objectPayload is the payload and version of the object of np pages at
// page: the unsealed one if it changed since the last Seal, else unsealed
// from Pages.
func (f *File) objectPayload(magic [4]byte, page uint64, np int) ([]byte, uint16, error) {
	if o, ok := f.dirty[page]; ok {
		if o.kind.magic != magic || o.np != np {
			return nil, 0, corrupt.Errorf("object %q of %d pages at page %d read as %q of %d pages", o.kind.magic[:], o.np, page, magic[:], np)
		}
		p, err := o.bytes(page, f.sb.PageSize)
		return p, o.kind.version, err
	}
	img, err := f.pages.Read(page, np)
	if err != nil {
		return nil, 0, fmt.Errorf("read %q object at page %d: %w", magic[:], page, err)
	}
	return unseal(img, magic, page, f.sb.PageSize)
}

// writeSuperblock writes page 0 if it changed since last written; with
// DeferSeal it leaves that to Seal, so that the calls of a tick that
// allocate (every chunk-allocating Extend) encode it once, not each.
func (f *File) writeSuperblock() error {
	f.sb.EOA = f.al.eoa
	if f.sb == f.saved {
		f.sbDirty = false
		return nil
	}
	if f.deferSeal {
		f.sbDirty = true
		return nil
	}
	return f.putSuperblock()
}

// putSuperblock hands page 0 to Pages.
func (f *File) putSuperblock() error {
	f.sbDirty = false
	fresh := f.fresh[0]
	delete(f.fresh, 0)
	if err := f.pages.Write(0, f.sb.encode(), fresh); err != nil {
		return fmt.Errorf("write superblock: %w", err)
	}
	f.saved = f.sb
	return nil
}

// readObject reads and unseals the object r points at.
func (f *File) readObject(magic [4]byte, r ref) ([]byte, uint16, error) {
	if eoa := f.eoa(); r.page < 1 || r.npages == 0 || r.page >= eoa || uint64(r.npages) > eoa-r.page {
		return nil, 0, corrupt.Errorf("object %q at %d+%d outside [1, %d)", magic[:], r.page, r.npages, eoa)
	}
	return f.objectPayload(magic, r.page, int(r.npages))
}

// eoa is the end of allocation: the allocator's for a writer, the
// superblock's for a reader.
func (f *File) eoa() uint64 {
	if f.ro {
		return f.sb.EOA
	}
	return f.al.eoa
}
