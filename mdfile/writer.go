package mdfile

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"sort"
	"time"

	"github.com/cespare/xxhash/v2"
	"go.uber.org/zap"

	"pwstore/internal/storage/corrupt"
	"pwstore/internal/storage/zerosum"
	"pwstore/vfs"
)

// Image is a new version of the metadata entry at data-file page Page:
// Data is its whole image, a positive whole number of pages (less than
// 4 GiB). The metadata file stores it without its zero tail.
type Image struct {
	Page uint64
	Data []byte
	// Zeros is how many bytes at the end of Data are zeros, as the caller
	// vouches (0: none known): they are then neither read nor searched.
	// The image stored and its checksum are the same as without it.
	Zeros int
}

// WriterOptions configure Create. Zero values take the defaults.
type WriterOptions struct {
	// PageSize is the page size of data and metadata file (default 4096).
	PageSize int
	// MaxLag is max_lag in ticks (default 10, at least 3).
	MaxLag uint64
	// FileID is the data file's identity, written into every header.
	FileID [16]byte
	// ReservedPages is md_pages_reserved: the pages at the head of the file
	// for the two header slots (the first 1024 bytes) and the index while
	// it fits (default 64).
	ReservedPages int
	// LeafPages is the size in pages of a full index or branch page
	// (default: 4 KiB worth, at least one page). Bigger pages make a
	// smaller root but cost more bytes per changed entry.
	LeafPages int
	// Takeover lets Create reuse an existing file (its contents are lost).
	Takeover bool
	// Durable makes every update survive power loss: SyncData, then page
	// images and index, fsync, then header, fsync.
	Durable bool
	// SyncData, in durable mode, is called first in every update (the data
	// file's fsync).
	SyncData func() error
	// Logger receives end-of-tick events (default: none).
	Logger *zap.Logger
	// Now is the clock for the heartbeat field of Update and Close
	// (default time.Now).
	Now func() time.Time
	// KeepFor is the lag window in time: a tick's superseded space is
	// released only once max_lag ticks have passed and it was superseded
	// at least KeepFor ago, so a reader may lag max_lag ticks or KeepFor,
	// whichever is more (0: ticks only). Every header names the oldest
	// tick a reader may still be on (Header.OldestTick).
	KeepFor time.Duration
}

// Stats describe a writer.
type Stats struct {
	Tick, IndexTick uint64
	Entries         int    // index entries
	Leaves          int    // index pages
	Branches        int    // branch pages
	RootBytes       uint64 // length of the current index root
	FileSize        int64  // metadata file length in bytes
	BytesWritten    uint64 // bytes written to the metadata file since Create
	LastBytes       uint64 // bytes written by the last Update or Heartbeat
	PendingRelease  int    // extents on the delayed-release list
	Relocated       bool   // the index has left the reserved pages
	Oldest          uint64 // the oldest tick a reader may be on (the last header's)
}

// Writer publishes ticks into a metadata file. It is not safe for
// concurrent use.
type Writer struct {
	fs   vfs.FS
	f    vfs.File
	path string
	opts WriterOptions
	ps   uint64 // page size
	res  uint64 // reserved pages, in granules
	cap  int    // entries in a full index page
	bcap int    // index pages in a full branch page
	log  *zap.Logger

	space     *space // all granules; the reserved ones stay taken until relocation
	reserved  *space // the reserved granules, where the index lives until relocation
	delayed   releaseList
	branches  []*wbranch // the current index, sorted, none empty
	nleaves   int        // index pages in all branches
	root      extent     // where the current root lives, in granules (n == 0: no root)
	rootLen   uint64
	rootSum   uint64
	entries   int
	tick      uint64 // last tick published
	indexTick uint64 // tick of the last index change
	oldest    uint64 // OldestTick of the last header published
	keepFor   time.Duration
	pubs      []published      // the ticks published from oldest on, in order
	clock     func() time.Time // measures KeepFor (time.Now; tests set it)
	slot      int              // header slot written last (-1: none)
	relocated bool             // the index lives in allocated space for good
	stats     Stats
	// floor is the size the file cannot be below unless it was cut under
	// the writer: its size at the last Check, and the end of each write
	// since. A write that reaches it is checked first (writePieces).
	floor  int64
	err    error // sticky: an I/O failure leaves the writer unusable
	closed bool
	final  bool // Finalise published status finalising: only Close may follow
	hdr    [HeaderSize]byte
	buf    []byte // gathers adjacent pieces into one write; kept across ticks
}

// Create creates the metadata file at path and returns its writer. Nothing
// is published until the first Update or Heartbeat: readers see
// ErrNotReady until then.
func Create(fsys vfs.FS, path string, opts WriterOptions) (*Writer, error) {
	if opts.PageSize == 0 {
		opts.PageSize = 4096
	}
	if opts.MaxLag == 0 {
		opts.MaxLag = 10
	}
	if opts.ReservedPages == 0 {
		opts.ReservedPages = 64
	}
	if opts.LeafPages == 0 {
		opts.LeafPages = max(1, 4096/opts.PageSize)
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	switch {
	case !validPageSize(uint64(opts.PageSize)):
		return nil, fmt.Errorf("mdfile: page size %d: not a power of two in [%d, %d]", opts.PageSize, MinPageSize, MaxPageSize)
	case opts.MaxLag < 3 || opts.MaxLag > 1<<31:
		return nil, fmt.Errorf("mdfile: max lag %d: must be at least 3", opts.MaxLag)
	case uint64(opts.ReservedPages) < headerPages(uint64(opts.PageSize)) || opts.ReservedPages > 1<<20:
		return nil, fmt.Errorf("mdfile: reserved pages %d: must hold the header slots and be at most %d", opts.ReservedPages, 1<<20)
	case opts.LeafPages < 1 || uint64(opts.LeafPages)*uint64(opts.PageSize) > 1<<26:
		return nil, fmt.Errorf("mdfile: leaf pages %d: out of range", opts.LeafPages)
	case opts.KeepFor < 0:
		return nil, fmt.Errorf("mdfile: keep for %v: negative", opts.KeepFor)
	}
	f, err := fsys.Create(path)
	if errors.Is(err, fs.ErrExist) {
		if !opts.Takeover {
			return nil, fmt.Errorf("create %s: %w", path, ErrExists)
		}
		f, err = fsys.OpenRW(path)
		if err == nil {
			err = f.Truncate(0)
		}
	}
	if err != nil {
		if f != nil {
			f.Close()
		}
		return nil, fmt.Errorf("mdfile: create %s: %w", path, err)
	}
	ps := uint64(opts.PageSize)
	w := &Writer{
		fs: fsys, f: f, path: path, opts: opts, ps: ps,
		res: uint64(opts.ReservedPages) * ps / granule,
		cap: int((uint64(opts.LeafPages)*ps - leafFixed) / entrySize),
		// A branch is filled to half a page of references: an end of tick
		// rewrites one branch per changed index page and the root once, so
		// smaller branches and a bigger root write fewer bytes (10 pages
		// changed in a million entries: 64 KB instead of 85).
		bcap:     int((uint64(opts.LeafPages)*ps-rootFixed)/refSize) / 2,
		log:      opts.Logger,
		space:    newSpace(uint64(opts.ReservedPages) * ps / granule),
		reserved: newSpace(0),
		slot:     -1,
		keepFor:  opts.KeepFor,
		clock:    time.Now,
	}
	w.space.take(0, w.res)
	w.reserved.take(0, headerBytes/granule)
	if err := f.Truncate(int64(w.res * granule)); err != nil {
		f.Close()
		return nil, fmt.Errorf("mdfile: create %s: %w", path, err)
	}
	if opts.Durable {
		// The new directory entry must survive power loss too.
		if err := vfs.SyncDirOf(fsys, path); err != nil {
			f.Close()
			return nil, fmt.Errorf("mdfile: create %s: %w", path, err)
		}
	}
	w.log.Info("metadata file created", zap.String("path", path), zap.Int("page_size", opts.PageSize),
		zap.Uint64("max_lag", opts.MaxLag), zap.Int("reserved_pages", opts.ReservedPages))
	return w, nil
}

// usable reports why the writer cannot take another call, if it cannot.
func (w *Writer) usable(tick uint64) error {
	switch {
	case w.closed:
		return ErrClosed
	case w.err != nil:
		return fmt.Errorf("mdfile: writer failed earlier: %w", w.err)
	case w.final:
		return fmt.Errorf("mdfile: tick %d after the file was marked finalising: %w", tick, ErrClosed)
	case tick <= w.tick:
		return fmt.Errorf("tick %d after %d: %w", tick, w.tick, ErrTickOrder)
	}
	return nil
}

// change is one requested index change; data == nil removes the page.
type change struct {
	page  uint64
	data  []byte
	zeros int // the last zeros bytes of data are zeros
	ent   Entry
}

// Update publishes tick: the changed images replace (or add) their
// entries, the removed pages leave the index (the caller says the data
// file holds them now). Order on disk: page images, index, header.
// Superseded images and index pieces are released max_lag ticks later.
// On a bad argument nothing is written and the writer stays usable; on an
// I/O error the previous tick stays readable and the writer refuses
// further updates.
func (w *Writer) Update(tick uint64, changed []Image, removed []uint64) error {
	if err := w.usable(tick); err != nil {
		return err
	}
	if err := w.Check(); err != nil {
		w.err = err
		return err
	}
	start := time.Now()
	ops, err := w.plan(changed, removed)
	if err != nil {
		return err
	}
	// The entries' offsets are known only once the index pieces are sized
	// and the tick's space placed (place sets them).
	for i := range ops {
		if op := &ops[i]; op.data != nil {
			head, tail := zeroRunAfter(op.data, op.zeros)
			var sum uint64
			if tail == 0 {
				sum = zerosum.Sum64(op.data[:head], len(op.data)-head)
			} else {
				sum = xxhash.Sum64(op.data)
			}
			op.ent = Entry{Page: op.page, Length: uint64(len(op.data)), Stored: uint64(head + tail), Tail: uint64(tail),
				Checksum: sum}
		}
	}
	branches, superseded, err := w.merge(ops)
	if err != nil {
		return err
	}
	if w.root.n > 0 {
		superseded = append(superseded, w.root)
	}
	if err := w.publish(tick, ops, branches, superseded); err != nil {
		w.err = err
		return err
	}
	w.log.Debug("end of tick", zap.Uint64("tick", tick), zap.Int("changed", len(changed)), zap.Int("removed", len(removed)),
		zap.Int("entries", w.entries), zap.Uint64("bytes", w.stats.LastBytes), zap.Duration("took", time.Since(start)))
	return nil
}

// plan validates the arguments and returns the changes sorted by page.
func (w *Writer) plan(changed []Image, removed []uint64) ([]change, error) {
	ops := make([]change, 0, len(changed)+len(removed))
	for _, img := range changed {
		n := uint64(len(img.Data))
		if n == 0 || n%w.ps != 0 || n > maxStored {
			return nil, fmt.Errorf("image of page %d is %d bytes, not a whole number of %d-byte pages under 4 GiB: %w", img.Page, n, w.ps, ErrBadUpdate)
		}
		if img.Page > maxPage-n/w.ps {
			return nil, fmt.Errorf("image of page %d: %d pages overflow: %w", img.Page, n/w.ps, ErrBadUpdate)
		}
		if img.Zeros < 0 || uint64(img.Zeros) > n {
			return nil, fmt.Errorf("image of page %d: %d of its %d bytes vouched zeros: %w", img.Page, img.Zeros, n, ErrBadUpdate)
		}
		ops = append(ops, change{page: img.Page, data: img.Data, zeros: img.Zeros})
	}
	for _, p := range removed {
		ops = append(ops, change{page: p})
	}
	slices.SortFunc(ops, func(a, b change) int { return cmp.Compare(a.page, b.page) })
	for i := 1; i < len(ops); i++ {
		if ops[i].page == ops[i-1].page {
			return nil, fmt.Errorf("page %d named twice in one update: %w", ops[i].page, ErrBadUpdate)
		}
	}
	return ops, nil
}

// zeroRun finds the run of zeros the metadata file leaves out of img and
// returns the lengths of what comes before and after it: what is stored.
// Metadata pages are a few fields at the start, zeros, and for some a
// checksum at the very end; so the run is the last one that holds a whole
// aligned zero word: the zeros that end the page, or the zeros before its
// last nonzero words. (Not always the longest run, but found in one pass
// over the zeros, 64 bytes a step.)
func zeroRun(img []byte) (head, tail int) {
	le := binary.LittleEndian
	n := len(img)
	e := n // the run ends at e: skip the nonzero words that end the page
	for e >= 8 && le.Uint64(img[e-8:e]) != 0 {
		e -= 8
	}
	if e < 8 || n%8 != 0 { // no zero word (or not whole words): only a zero tail
		h := len(img)
		for h > 0 && img[h-1] == 0 {
			h--
		}
		return h, 0
	}
	s := e - 8
	for s >= 64 {
		w := img[s-64 : s : s]
		if le.Uint64(w[0:])|le.Uint64(w[8:])|le.Uint64(w[16:])|le.Uint64(w[24:])|
			le.Uint64(w[32:])|le.Uint64(w[40:])|le.Uint64(w[48:])|le.Uint64(w[56:]) != 0 {
			break
		}
		s -= 64
	}
	for s >= 8 && le.Uint64(img[s-8:s]) == 0 {
		s -= 8
	}
	for s > 0 && img[s-1] == 0 { // widen to the whole run
		s--
	}
	for e < len(img) && img[e] == 0 {
		e++
	}
	return s, len(img) - e
}

// zeroRunAfter is zeroRun for an image whose last z bytes are known to be
// zeros: the same run (the zeros that end the page, widened back), found
// without reading them.
func zeroRunAfter(img []byte, z int) (head, tail int) {
	n := len(img)
	if z < 8 || n%8 != 0 {
		return zeroRun(img)
	}
	le := binary.LittleEndian
	s := n - z
	for s%8 != 0 && img[s-1] == 0 {
		s--
	}
	if s%8 == 0 {
		for s >= 8 && le.Uint64(img[s-8:s]) == 0 {
			s -= 8
		}
		for s > 0 && img[s-1] == 0 {
			s--
		}
	}
	return s, 0
}

// piece is bytes to write at a metadata-file byte offset.
type piece struct {
	off  uint64
	data []byte
}

// publish places and writes the index, writes the header and adopts the
// new state.
func (w *Writer) publish(tick uint64, ops []change, branches []*wbranch, superseded []extent) error {
	if w.opts.Durable && w.opts.SyncData != nil {
		if err := w.opts.SyncData(); err != nil {
			return fmt.Errorf("mdfile: sync data file: %w", err)
		}
	}
	superseded = w.place(ops, branches, superseded)
	var pieces []piece
	for _, op := range ops {
		if op.data != nil && op.ent.Stored > 0 {
			if h := op.ent.head(); h > 0 {
				pieces = append(pieces, piece{op.ent.Offset, op.data[:h]})
			}
			if op.ent.Tail > 0 {
				pieces = append(pieces, piece{op.ent.Offset + op.ent.head(), op.data[uint64(len(op.data))-op.ent.Tail:]})
			}
		}
	}
	pieces, entries, nleaves := w.encodeIndex(tick, branches, pieces)
	var root []byte
	if len(branches) > 0 {
		refs := make([]Ref, len(branches))
		for i, br := range branches {
			refs[i] = br.ref
		}
		root = encodeNode(make([]byte, 0, nodeLength(len(refs))), rootMagic, tick, uint64(entries), refs)
		pieces = append(pieces, piece{w.root.page * granule, root})
	}
	w.stats.LastBytes = 0
	if err := w.writePieces(pieces); err != nil {
		return err
	}
	w.rootLen, w.rootSum = uint64(len(root)), 0
	if len(root) > 0 {
		w.rootSum = xxhash.Sum64(root)
	}
	w.branches, w.entries, w.nleaves, w.indexTick = branches, entries, nleaves, tick
	if err := w.writeHeader(tick, StatusOpen, true, w.opts.Now()); err != nil {
		return err
	}
	for _, e := range superseded {
		w.delayed.add(tick, e)
	}
	return w.release()
}

// maxWrite caps the bytes gathered into one WriteAt.
const maxWrite = 8 << 20

// writePieces writes pieces in file order, gathering into one write the
// pieces that only the padding of their granules separates, then syncs in
// durable mode.
func (w *Writer) writePieces(pieces []piece) error {
	slices.SortFunc(pieces, func(a, b piece) int { return cmp.Compare(a.off, b.off) })
	for i := 0; i < len(pieces); {
		end := pieces[i].off + uint64(len(pieces[i].data))
		j := i + 1
		for j < len(pieces) && pieces[j].off <= granules(end)*granule && pieces[j].off+uint64(len(pieces[j].data))-pieces[i].off <= maxWrite {
			end = pieces[j].off + uint64(len(pieces[j].data))
			j++
		}
		// One buffer: the pieces, the padding of their granules between them
		// and after the last, so the file always ends on a granule (the
		// length the writer's checks expect).
		data := pieces[i].data
		if pad := granules(end)*granule - end; j > i+1 || pad > 0 {
			w.buf = w.buf[:0]
			zeros := func(upTo uint64) {
				n := len(w.buf)
				w.buf = slices.Grow(w.buf, int(upTo)-n)[:upTo]
				clear(w.buf[n:])
			}
			for _, p := range pieces[i:j] {
				zeros(p.off - pieces[i].off)
				w.buf = append(w.buf, p.data...)
			}
			zeros(granules(end)*granule - pieces[i].off)
			data = w.buf
		}
		// A write that reaches the floor would bring a file cut since the
		// tick's Check back to its size, zeros where the cut was, and the
		// next Check would pass: the size is checked again first.
		to := int64(pieces[i].off) + int64(len(data))
		if to >= w.floor {
			if err := w.checkSize(w.floor); err != nil {
				return err
			}
		}
		if _, err := w.f.WriteAt(data, int64(pieces[i].off)); err != nil {
			return fmt.Errorf("mdfile: write at byte %d: %w", pieces[i].off, err)
		}
		w.floor = max(w.floor, to)
		w.stats.LastBytes += uint64(len(data))
		i = j
	}
	w.stats.BytesWritten += w.stats.LastBytes
	if w.opts.Durable && len(pieces) > 0 {
		if err := w.f.Sync(); err != nil {
			return fmt.Errorf("mdfile: sync: %w", err)
		}
	}
	return nil
}

// writeHeader writes the header of tick into the slot not written last,
// naming the current index (or an empty one when withIndex is false).
func (w *Writer) writeHeader(tick uint64, status Status, withIndex bool, now time.Time) error {
	at := w.clock()
	h := Header{
		Version: headerVersion, PageSize: uint32(w.ps), Status: status, Tick: tick, FileID: w.opts.FileID,
		Heartbeat: now, MaxLag: uint32(w.opts.MaxLag), ReservedPages: uint32(w.res),
		OldestTick: w.nextOldest(tick, at),
	}
	if withIndex {
		h.IndexTick = w.indexTick
		if w.rootLen > 0 {
			h.RootOffset, h.RootLength, h.RootChecksum = w.root.page*granule, w.rootLen, w.rootSum
			h.Entries = uint64(w.entries)
		}
	}
	h.Encode(w.hdr[:])
	slot := (w.slot + 1) % headerSlots
	if _, err := w.f.WriteAt(w.hdr[:], int64(slot*slotStride)); err != nil {
		return fmt.Errorf("mdfile: write header of tick %d: %w", tick, err)
	}
	w.stats.LastBytes += HeaderSize
	w.stats.BytesWritten += HeaderSize
	if w.opts.Durable {
		if err := w.f.Sync(); err != nil {
			return fmt.Errorf("mdfile: sync header of tick %d: %w", tick, err)
		}
	}
	w.slot, w.tick = slot, tick
	w.oldest = h.OldestTick
	w.pubs = append(w.pubs, published{tick: tick, at: at})
	return nil
}

// published is when a tick's header was written.
type published struct {
	tick uint64
	at   time.Time
}

// nextOldest is the OldestTick of the header of tick written at time at:
// the ticks rule (max_lag - 1 ticks behind tick), lowered by the time
// rule to the oldest tick superseded less than KeepFor ago (a tick is
// superseded when the next one is published), never below the last
// header's. It forgets the publication times of the ticks before it.
func (w *Writer) nextOldest(tick uint64, at time.Time) uint64 {
	o := oldestByTicks(tick, w.opts.MaxLag)
	if w.keepFor > 0 {
		cut := at.Add(-w.keepFor)
		for i, p := range w.pubs {
			superseded := at
			if i+1 < len(w.pubs) {
				superseded = w.pubs[i+1].at
			}
			if superseded.After(cut) {
				o = min(o, p.tick)
				break
			}
		}
	}
	o = max(o, w.oldest)
	i := 0
	for i < len(w.pubs) && w.pubs[i].tick < o {
		i++
	}
	w.pubs = w.pubs[i:]
	return o
}

// SetKeepFor changes the lag window in time from the next header on (0:
// ticks only). The oldest tick never moves back: a longer window keeps
// only what is superseded from then on.
func (w *Writer) SetKeepFor(d time.Duration) { w.keepFor = max(d, 0) }

// Oldest is the oldest tick a reader may be on, as the last header said
// (0 before the first).
func (w *Writer) Oldest() uint64 { return w.oldest }

// release hands the space superseded before the oldest tick a reader may
// be on (the last header's) to the free-space manager and shrinks the
// file when its tail came free. Space superseded at tick s was last named
// by tick s - 1, so it may go once s < OldestTick; the ticks rule alone
// releases at tick T what was superseded max_lag or more ticks before.
func (w *Writer) release() error {
	if w.oldest <= 1 {
		return nil
	}
	end := w.space.end()
	for _, e := range w.delayed.due(w.oldest - 1) {
		sp := w.space
		if !w.relocated && e.page < w.res {
			sp = w.reserved
		}
		if err := sp.free(e.page, e.n); err != nil {
			return err
		}
	}
	if now := w.space.end(); now < end {
		if err := w.f.Truncate(int64(now * granule)); err != nil {
			return fmt.Errorf("mdfile: shrink to %d bytes: %w", now*granule, err)
		}
	}
	return nil
}

// Heartbeat publishes tick with the same index and heartbeat time now:
// one header write, whatever the index size.
func (w *Writer) Heartbeat(tick uint64, now time.Time) error {
	if err := w.usable(tick); err != nil {
		return err
	}
	w.stats.LastBytes = 0
	err := w.Check()
	if err == nil {
		err = w.writeHeader(tick, StatusOpen, true, now)
	}
	if err == nil {
		err = w.release()
	}
	if err != nil {
		w.err = err
	}
	return err
}

// Finalise publishes the next tick with the current index and status
// finalising: one header (synced in durable mode). The caller has
// published its last changes; once Finalise returns it may write every
// page it still held back into the data file, since a reader on an older
// tick checks the header after each page it loads and, finding it
// finalising, drops the page and moves to this tick (see the package
// doc). Only Close may follow. On failure the file stays for recovery,
// which treats finalising as open.
func (w *Writer) Finalise(now time.Time) error {
	tick := w.tick + 1
	if err := w.usable(tick); err != nil {
		return err
	}
	if w.slot < 0 {
		return fmt.Errorf("mdfile: finalise before the first tick: %w", ErrTickOrder)
	}
	w.stats.LastBytes = 0
	err := w.Check()
	if err == nil {
		err = w.writeHeader(tick, StatusFinalising, true, now)
	}
	if err != nil {
		w.err = err
		return err
	}
	w.final = true
	return nil
}

// Close publishes a last tick with status closed and an empty index (the
// caller has moved all metadata into the data file), then removes the
// file unless keep. After a failure the file is kept for recovery.
func (w *Writer) Close(keep bool) error {
	if w.closed {
		return ErrClosed
	}
	w.closed = true
	if w.err != nil {
		w.f.Close()
		return fmt.Errorf("mdfile: close after failure (file kept for recovery): %w", w.err)
	}
	err := w.Check()
	if err == nil {
		err = w.writeHeader(w.tick+1, StatusClosed, false, w.opts.Now())
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("mdfile: close %s: %w", w.path, err)
	}
	w.log.Info("metadata file closed", zap.String("path", w.path), zap.Uint64("tick", w.tick), zap.Bool("kept", keep))
	if !keep {
		if err := w.fs.Remove(w.path); err != nil {
			return fmt.Errorf("mdfile: remove %s: %w", w.path, err)
		}
		if w.opts.Durable {
			if err := vfs.SyncDirOf(w.fs, w.path); err != nil {
				return fmt.Errorf("mdfile: remove %s: %w", w.path, err)
			}
		}
	}
	return nil
}

// Check makes sure the file is still as this writer left it, so that it
// never publishes into a file someone else changed: not shorter than it
// made it, its last header in place, and no newer header beside it (the
// consumed mark of a recovery that ran while this writer was stopped, or
// another writer's). It reads the header slots (1 KiB) and the file size.
// Update, Heartbeat and Close call it before they write anything.
func (w *Writer) Check() error {
	want := int64(w.space.end() * granule)
	if err := w.checkSize(want); err != nil {
		return err
	}
	w.floor = want
	if w.slot < 0 {
		return nil
	}
	var head [headerBytes]byte
	if _, err := w.f.ReadAt(head[:], 0); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("mdfile: read headers of %s: %w", w.path, err)
	}
	other := (w.slot + 1) % headerSlots
	if h, err := DecodeHeader(head[other*slotStride:][:HeaderSize]); err == nil && h.Tick > w.tick {
		return fmt.Errorf("%w: %s holds tick %d with status %s, after this writer's tick %d: the file was recovered (or taken over by another writer) while this writer was stopped",
			ErrChanged, w.path, h.Tick, h.Status, w.tick)
	}
	if !bytes.Equal(head[w.slot*slotStride:][:HeaderSize], w.hdr[:]) {
		return fmt.Errorf("%w: header slot %d of %s no longer holds this writer's tick %d", ErrChanged, w.slot, w.path, w.tick)
	}
	return nil
}

// checkSize reports a file shorter than want, the size its writer made it.
func (w *Writer) checkSize(want int64) error {
	size, err := w.f.Size()
	if err != nil {
		return fmt.Errorf("mdfile: size of %s: %w", w.path, err)
	}
	if size < want {
		return corrupt.Errorf("mdfile: %s is %d bytes, its writer made it %d: cut short under the writer: %w", w.path, size, want, ErrChanged)
	}
	return nil
}

// Find looks page up in the current index.
func (w *Writer) Find(page uint64) (Entry, bool) {
	i := sort.Search(len(w.branches), func(i int) bool { return w.branches[i].first() > page })
	if i == 0 {
		return Entry{}, false
	}
	br := w.branches[i-1]
	return findEntry(len(br.leaves), func(j int) []Entry { return br.leaves[j].entries }, page)
}

// Tick is the last tick published (0 before the first).
func (w *Writer) Tick() uint64 { return w.tick }

// Stats returns the writer's figures.
func (w *Writer) Stats() Stats {
	s := w.stats
	s.Tick, s.IndexTick = w.tick, w.indexTick
	s.Entries, s.Leaves, s.Branches, s.RootBytes = w.entries, w.nleaves, len(w.branches), w.rootLen
	s.FileSize = int64(w.space.end() * granule)
	s.PendingRelease = w.delayed.len()
	s.Relocated = w.relocated
	s.Oldest = w.oldest
	return s
}
