package pagebuf

import (
	"errors"
	"fmt"
	"slices"

	"github.com/cespare/xxhash/v2"
)

// Backend is where the buffer loads entries from and writes them back to.
type Backend interface {
	// ReadPages fills p from the data file (or, for a SWMR reader, the
	// metadata file's image) starting at page.
	ReadPages(page uint64, p []byte) error
	// WritePages writes p to the data file starting at page.
	WritePages(page uint64, p []byte) error
}

// Errors returned by the buffer; each is wrapped with context.
var (
	// ErrReadOnly: a SWMR reader's buffer was asked to change an entry.
	ErrReadOnly = errors.New("pagebuf: read-only buffer")
	// ErrLength: an image or page count that is not a whole positive number of pages.
	ErrLength = errors.New("pagebuf: bad length")
	// ErrShape: an entry is held with a different number of pages than asked for.
	ErrShape = errors.New("pagebuf: entry size mismatch")
	// ErrTick: EndTick was called for a tick that is not the open one, or in a mode without ticks.
	ErrTick = errors.New("pagebuf: bad tick")
	// ErrRole: a parallel-writer call made by the wrong kind of rank.
	ErrRole = errors.New("pagebuf: wrong rank role")
)

// Buffer is the page buffer. It is not safe for concurrent use.
type Buffer struct {
	cfg  Config
	back Backend

	tab  table
	all  list       // index list: every entry
	lru  list       // clean entries (and dirty ones in Plain mode)
	dwl  list       // dirty entries waiting to be written (SWMRWriter, Follower), by writeAt
	dwlB dwlBuckets // the first and last entry of each writeAt on dwl
	tick list       // entries changed in the current tick (SWMRWriter)

	dirty int               // dirty entries
	multi int               // multi-page entries
	cover map[uint64]uint64 // page inside a multi-page entry, not its first -> first page

	cur     uint64             // the open tick (SWMRWriter)
	upTo    uint64             // no entry with a later writeAt is written (SetOldest; 0: no such limit)
	final   bool               // WriteAll ran: delays no longer apply (SWMRWriter)
	indexed map[uint64]*record // pages in the metadata-file index, by page (SWMRWriter)
	due     map[uint64][]uint64
	freed   []uint64            // pages freed while indexed, to leave the index at end of tick
	written map[uint64]struct{} // Leader: written back since TakeWritten, unchanged since

	digest      *xxhash.Digest
	streamBytes int64

	hook func(pages []uint64)
	st   Stats
	wbuf []byte // gathers adjacent entries written back together
}

// record is what the buffer remembers of a page in the metadata-file index,
// whether or not the page is still held.
type record struct {
	changed  uint64 // the tick of its last change (the image in the index)
	written  bool   // that image has reached the data file
	safeFrom uint64 // first tick at which its later changes may reach the data file
	freed    bool   // freed: leaves the index at the end of the tick
}

// New returns an empty buffer that loads and writes through back.
func New(cfg Config, back Backend) (*Buffer, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if back == nil {
		return nil, fmt.Errorf("%w: nil backend", ErrConfig)
	}
	b := &Buffer{
		cfg:    cfg,
		back:   back,
		tab:    newTable(cfg.MaxPages),
		all:    list{via: viaIdx},
		lru:    list{via: viaRep},
		dwl:    list{via: viaRep},
		dwlB:   dwlBuckets{},
		tick:   list{via: viaTick},
		cover:  make(map[uint64]uint64),
		cur:    cfg.FirstTick,
		digest: xxhash.New(),
	}
	if b.cur == 0 {
		b.cur = 1
	}
	if cfg.Mode == SWMRWriter {
		b.indexed = make(map[uint64]*record)
		b.due = make(map[uint64][]uint64)
	}
	if cfg.Leader {
		b.written = make(map[uint64]struct{})
	}
	return b, nil
}

// SetEvictHook installs f, called with the first pages of the entries that
// left the buffer without being changed (eviction, Invalidate, a clean
// multi-page entry dropped by a writer), so the layer above can drop objects
// it decoded from them. Free does not call it. f must not call the buffer.
func (b *Buffer) SetEvictHook(f func(pages []uint64)) { b.hook = f }

// Tick returns the open tick (SWMRWriter).
func (b *Buffer) Tick() uint64 { return b.cur }

// keepsDirtyOnDWL says whether dirty entries live on the delayed write list
// (SWMR writer or follower) rather than on the LRU.
func (b *Buffer) keepsDirtyOnDWL() bool { return b.cfg.Mode == SWMRWriter || b.cfg.Follower }

// dropsCleanMulti says whether a clean multi-page entry is dropped rather
// than kept on the LRU (a SWMR writer keeps them only while needed).
func (b *Buffer) dropsCleanMulti() bool { return b.cfg.Mode == SWMRWriter }

func (b *Buffer) npagesOf(n int) (int, error) {
	if n <= 0 || n%b.cfg.PageSize != 0 {
		return 0, fmt.Errorf("%w: %d bytes is not a whole positive number of %d-byte pages", ErrLength, n, b.cfg.PageSize)
	}
	return n / b.cfg.PageSize, nil
}

// Read returns the image of the entry at page, npages pages long, loading it
// through the Backend on a miss. The slice belongs to the buffer and must not
// be modified; it stays valid (the buffer replaces images, never edits them).
// A SWMR writer does not keep a clean multi-page entry it loads.
func (b *Buffer) Read(page uint64, npages int) ([]byte, error) {
	if npages < 1 {
		return nil, fmt.Errorf("%w: read of %d pages at page %d", ErrLength, npages, page)
	}
	b.st.Accesses++
	if e := b.tab.get(page); e != nil {
		if e.npages != npages {
			return nil, fmt.Errorf("%w: read of %d pages at page %d, held as %d", ErrShape, npages, page, e.npages)
		}
		b.st.Hits++
		if e.on == onLRU {
			b.lru.moveToHead(e)
		}
		return e.data, nil
	}
	b.st.Misses++
	if err := b.overlap(page, npages); err != nil {
		return nil, fmt.Errorf("read of %d pages at page %d: %w", npages, page, err)
	}
	data := make([]byte, npages*b.cfg.PageSize)
	if err := b.back.ReadPages(page, data); err != nil {
		return nil, fmt.Errorf("pagebuf: load %d page(s) at page %d: %w", npages, page, err)
	}
	b.st.Loads++
	if npages > 1 && b.dropsCleanMulti() {
		return data, nil
	}
	e := &entry{page: page, npages: npages, data: data, inFile: true}
	b.insert(e)
	b.lruPush(e)
	err := b.makeRoom(e)
	b.noteMax()
	return data, err
}

// Write replaces the entry at page with data (a whole number of pages) and
// takes ownership of data. fresh says the caller just allocated this space
// and has not published it. An error wrapping a Backend error means writing
// back another entry to make room failed; this Write has still taken effect.
func (b *Buffer) Write(page uint64, data []byte, fresh bool) error {
	return b.WriteUsed(page, data, len(data), fresh)
}

// WriteUsed is Write for an image whose bytes from used on are all zeros,
// as the caller vouches: the end of tick hands that on (Change.Zeros), so
// the metadata file need not read the zeros to find or checksum them.
func (b *Buffer) WriteUsed(page uint64, data []byte, used int, fresh bool) error {
	if b.cfg.Mode == SWMRReader {
		return fmt.Errorf("%w: write at page %d", ErrReadOnly, page)
	}
	n, err := b.npagesOf(len(data))
	if err != nil {
		return fmt.Errorf("write at page %d: %w", page, err)
	}
	if err := b.overlap(page, n); err != nil {
		return fmt.Errorf("write of %d pages at page %d: %w", n, page, err)
	}
	b.stream(page, data)
	b.st.Accesses++
	e := b.tab.get(page)
	if e == nil {
		e = &entry{page: page, npages: n}
		b.insert(e)
	} else {
		b.st.Hits++
		if e.npages != n {
			b.resize(e, n)
		}
	}
	e.data, e.zeros = data, len(data)-min(max(used, 0), len(data))
	if !fresh {
		e.inFile = true
	}
	if b.written != nil {
		delete(b.written, page)
	}
	if !b.keepsDirtyOnDWL() {
		b.setDirty(e)
		b.lruPush(e)
	} else {
		b.writeDelayed(e, fresh)
	}
	err = b.makeRoom(e)
	b.noteMax()
	return err
}

// overlap reports an entry of n pages at page that would overlap another
// held entry (the entry keyed by page itself does not count).
func (b *Buffer) overlap(page uint64, n int) error {
	if b.multi == 0 && n == 1 {
		return nil
	}
	if first, ok := b.cover[page]; ok {
		return fmt.Errorf("%w: page %d is inside the entry at page %d", ErrShape, page, first)
	}
	for i := 1; i < n; i++ {
		p := page + uint64(i)
		if b.peek(p) != nil {
			return fmt.Errorf("%w: the entry at page %d is inside it", ErrShape, p)
		}
		if first, ok := b.cover[p]; ok && first != page {
			return fmt.Errorf("%w: page %d is inside the entry at page %d", ErrShape, p, first)
		}
	}
	return nil
}

// writeDelayed makes e dirty on the delayed write list (and, for a SWMR
// writer, the tick list), working out the first tick it may be written.
func (b *Buffer) writeDelayed(e *entry, fresh bool) {
	var at uint64
	if b.cfg.Mode == SWMRWriter {
		t := b.cur
		switch rec := b.indexed[e.page]; {
		case rec != nil:
			// In the index since it became reachable (or since its delay
			// began): readers that could see the data-file version are
			// already covered by rec.safeFrom.
			at = max(rec.safeFrom, t+1)
			rec.freed = false
		case !fresh || e.inFile:
			at = t + b.cfg.MaxLag
		default:
			at = t + 1
		}
		if e.dirty {
			at = max(at, e.writeAt)
		}
		if at > t+1 && !(e.dirty && e.writeAt > t+1) {
			b.st.DelayedWrites++
			b.st.TotalDelay += int64(at - t)
		}
		if !e.onTick {
			e.onTick = true
			b.tick.pushTail(e)
		}
	}
	b.setDirty(e)
	if e.on == onDWL && e.writeAt == at {
		return
	}
	b.unplace(e)
	e.writeAt = at
	b.dwlInsert(e)
}

// Free drops the entry at page without writing it: its space was freed. A
// page in the metadata-file index leaves it at the end of the tick.
// The page count is not needed: the entry is keyed by its first page.
func (b *Buffer) Free(page uint64, _ int) {
	if e := b.tab.get(page); e != nil {
		b.drop(e)
		b.st.Clears++
	}
	if rec := b.indexed[page]; rec != nil && !rec.freed {
		rec.freed = true
		b.freed = append(b.freed, page)
	}
	if b.written != nil {
		delete(b.written, page)
	}
	b.noteMax()
}

// Invalidate evicts every clean entry that the list of changed pages names,
// by its first page or by any page inside it, and returns the first pages of
// the entries that went (also passed to the evict hook). A SWMR reader calls
// it with the pages a newly adopted index lists as changed. Dirty entries
// (a writer's own changes) are never dropped.
func (b *Buffer) Invalidate(pages []uint64) []uint64 {
	if b.all.len < len(pages) && slices.IsSorted(pages) {
		return b.invalidateHeld(pages)
	}
	var gone []uint64
	for _, p := range pages {
		if e := b.tab.get(p); e != nil && !e.dirty {
			b.drop(e)
			gone = append(gone, p)
		}
		if first, ok := b.cover[p]; ok {
			if e := b.tab.get(first); e != nil && !e.dirty {
				b.drop(e)
				gone = append(gone, first)
			}
		}
	}
	b.st.Invalidations += int64(len(gone))
	b.notify(gone)
	return gone
}

// invalidateHeld is Invalidate for sorted pages that outnumber the
// entries held (a reader's buffer holding a few pages, a delta naming a
// thousand): it looks each clean entry up in pages, a binary search,
// instead of each page up in the hash table and the cover map (two lookups
// that mostly miss).
func (b *Buffer) invalidateHeld(pages []uint64) []uint64 {
	return b.dropClean(func(e *entry) bool {
		// The first listed page at or after the entry's first: is it
		// inside the entry?
		i, _ := slices.BinarySearch(pages, e.page)
		return i < len(pages) && pages[i]-e.page < uint64(e.npages)
	})
}

// dropClean evicts every clean entry that changed says has changed, as
// Invalidate does, and returns their first pages.
func (b *Buffer) dropClean(changed func(*entry) bool) []uint64 {
	var gone []uint64
	for e := b.all.head; e != nil; {
		next := e.idx.next
		if !e.dirty && changed(e) {
			b.drop(e)
			gone = append(gone, e.page)
		}
		e = next
	}
	b.st.Invalidations += int64(len(gone))
	b.notify(gone)
	return gone
}

func (b *Buffer) notify(pages []uint64) {
	if len(pages) > 0 && b.hook != nil {
		b.hook(pages)
	}
}

func (b *Buffer) stream(page uint64, data []byte) {
	b.streamBytes += int64(len(data))
	if b.cfg.NoStream {
		return
	}
	var a [8]byte
	for i := range a {
		a[i] = byte(page >> (8 * i))
	}
	b.digest.Write(a[:])
	b.digest.Write(data)
}

// Stream returns the running xxhash64 digest of the dirty-metadata stream
// (for each Write since the last ResetStream: the page address as 8
// little-endian bytes, then the image) and the number of image bytes in it.
// With Config.NoStream the digest is that of nothing.
func (b *Buffer) Stream() (digest uint64, bytes int64) {
	return b.digest.Sum64(), b.streamBytes
}

// ResetStream starts a new stream digest (at a sync point).
func (b *Buffer) ResetStream() {
	b.digest.Reset()
	b.streamBytes = 0
}

// insert adds a new entry to the hash table and index list.
func (b *Buffer) insert(e *entry) {
	b.tab.put(e)
	b.all.pushTail(e)
	b.st.Insertions++
	if e.npages > 1 {
		b.addCover(e)
	}
}

func (b *Buffer) addCover(e *entry) {
	b.multi++
	for i := 1; i < e.npages; i++ {
		b.cover[e.page+uint64(i)] = e.page
	}
}

func (b *Buffer) delCover(e *entry) {
	b.multi--
	for i := 1; i < e.npages; i++ {
		if b.cover[e.page+uint64(i)] == e.page {
			delete(b.cover, e.page+uint64(i))
		}
	}
}

// resize changes the page count of a held entry, keeping list sizes right.
func (b *Buffer) resize(e *entry, n int) {
	onTick, on := e.onTick, e.on
	if onTick {
		b.tick.remove(e)
	}
	b.unplace(e)
	b.all.remove(e)
	if e.npages > 1 {
		b.delCover(e)
	}
	e.npages = n
	if n > 1 {
		b.addCover(e)
	}
	b.all.pushTail(e)
	if onTick {
		b.tick.pushTail(e)
	}
	switch on {
	case onLRU:
		b.lruPush(e)
	case onDWL:
		b.dwlInsert(e)
	}
}

func (b *Buffer) setDirty(e *entry) {
	if !e.dirty {
		e.dirty = true
		b.dirty++
	}
}

// unplace takes e off the LRU or DWL.
func (b *Buffer) unplace(e *entry) {
	switch e.on {
	case onLRU:
		b.lru.remove(e)
	case onDWL:
		b.dwlRemove(e)
	}
	e.on = onNone
}

// drop removes e from every structure.
func (b *Buffer) drop(e *entry) {
	b.unplace(e)
	if e.onTick {
		b.tick.remove(e)
		e.onTick = false
	}
	if e.dirty {
		e.dirty = false
		b.dirty--
	}
	if e.npages > 1 {
		b.delCover(e)
	}
	b.all.remove(e)
	b.tab.del(e)
}

// canWrite says whether e's image may go to the data file now.
func (b *Buffer) canWrite(e *entry) bool {
	if b.cfg.Follower || e.onTick {
		return false
	}
	return b.cfg.Mode != SWMRWriter || b.final || e.writeAt <= b.cur && (b.upTo == 0 || e.writeAt <= b.upTo)
}

// SetOldest tells a SWMR writer's buffer the oldest tick a reader may be
// on, as the coordinator last published it (its own lag window in time
// may keep readers longer than max_lag ticks): from then on an entry is
// written back only when its delay ends by that tick too. A delay of an
// entry changed in tick t ends at t + max_lag, and its write changes what
// readers of ticks before t read; so it waits until t <= oldest. Without
// a call, max_lag ticks alone decide. oldest never moves back.
func (b *Buffer) SetOldest(oldest uint64) {
	b.upTo = max(b.upTo, oldest+b.cfg.MaxLag)
}

// writeBack writes e's image to the Backend and marks it clean; the caller
// moves it to its clean place (settle) or evicts it.
func (b *Buffer) writeBack(e *entry) error {
	if err := b.back.WritePages(e.page, e.data); err != nil {
		return fmt.Errorf("pagebuf: write back %d page(s) at page %d: %w", e.npages, e.page, err)
	}
	b.wrote(e)
	return nil
}

// wrote records that e's image was written back.
func (b *Buffer) wrote(e *entry) {
	b.st.Flushes++
	b.cleaned(e)
	if b.written != nil {
		b.written[e.page] = struct{}{}
	}
}

// cleaned records that e's current image is in the data file.
func (b *Buffer) cleaned(e *entry) {
	e.dirty = false
	b.dirty--
	e.inFile = true
	if rec := b.indexed[e.page]; rec != nil {
		rec.written = true
		at := max(rec.changed+b.cfg.MaxLag, b.cur)
		b.due[at] = append(b.due[at], e.page)
	}
}

// settle puts a just-cleaned entry in its clean place: the LRU head, or out
// of the buffer for a writer's multi-page entry. It reports whether e left.
func (b *Buffer) settle(e *entry) bool {
	if e.npages > 1 && b.dropsCleanMulti() {
		b.drop(e)
		b.st.Evictions++
		return true
	}
	b.lruPush(e)
	return false
}

// lruPush moves e to the LRU head, taking it off the DWL if it is there.
func (b *Buffer) lruPush(e *entry) {
	if e.on == onLRU {
		b.lru.moveToHead(e)
		return
	}
	b.unplace(e)
	b.lru.pushHead(e)
	e.on = onLRU
}

// makeRoom evicts until the buffer is within capacity or nothing more may
// go. keep (the entry just used) is spared.
func (b *Buffer) makeRoom(keep *entry) error {
	if b.all.pages <= b.cfg.MaxPages {
		return nil
	}
	var gone []uint64
	var err error
	// Clean entries from the LRU tail; a dirty one (Plain mode) is written
	// and moved to the head: its second chance.
	steps := 2 * b.lru.len
	for e := b.lru.tail; e != nil && steps > 0 && b.all.pages > b.cfg.MaxPages; steps-- {
		prev := e.rep.prev
		switch {
		case e == keep:
		case !e.dirty:
			b.drop(e)
			b.st.Evictions++
			gone = append(gone, e.page)
		case b.canWrite(e):
			if err = b.writeBack(e); err != nil {
				steps = 0
				continue
			}
			b.lru.moveToHead(e)
		default:
			b.st.DirtySkips++
		}
		if e = prev; e == nil {
			e = b.lru.tail
		}
	}
	// Then dirty entries whose delay is over, from the DWL head.
	for err == nil && b.all.pages > b.cfg.MaxPages {
		e := b.dwl.head
		if e == nil || e == keep || !b.canWrite(e) {
			break
		}
		if err = b.writeBack(e); err != nil {
			break
		}
		b.drop(e)
		b.st.Evictions++
		gone = append(gone, e.page)
	}
	if b.all.pages > b.cfg.MaxPages {
		b.st.OverCapacity++
	}
	b.notify(gone)
	return err
}
