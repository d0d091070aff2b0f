package mdfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"time"

	"github.com/cespare/xxhash/v2"
	"go.uber.org/zap"

	"pwstore/internal/storage/corrupt"
	"pwstore/vfs"
)

// ReaderOptions configure Open. Zero values take the defaults.
type ReaderOptions struct {
	// FileID, when not all zero, must match the headers' file identity.
	FileID [16]byte
	// Wait bounds how long Open waits for the file to exist and hold a
	// valid header (default 5 s).
	Wait time.Duration
	// Retries bounds the attempts of one Load (default 100).
	Retries int
	// MinBackoff and MaxBackoff bound the pause between attempts; it
	// doubles from the first to the second (defaults 100 µs and 50 ms).
	MinBackoff, MaxBackoff time.Duration
	// Logger receives retries and failures (default: none).
	Logger *zap.Logger
}

// Reader loads snapshots from a metadata file another process writes. It
// is not safe for concurrent use; the snapshots it returns are.
type Reader struct {
	f    vfs.File
	path string
	opts ReaderOptions
	log  *zap.Logger
	ps   uint64    // page size, from the first valid header
	cur  *Snapshot // the last snapshot returned by Load
	head [headerBytes]byte
}

// slotHeader is a valid header and where it was read.
type slotHeader struct {
	h    Header
	slot int
	raw  [HeaderSize]byte
}

// Open opens the metadata file at path and loads its first snapshot,
// waiting up to opts.Wait for the file to exist and hold a valid header.
// A file still missing or without a valid header after the wait is
// ErrNotReady.
func Open(fsys vfs.FS, path string, opts ReaderOptions) (*Reader, error) {
	if opts.Wait == 0 {
		opts.Wait = 5 * time.Second
	}
	if opts.Retries == 0 {
		opts.Retries = 100
	}
	if opts.MinBackoff == 0 {
		opts.MinBackoff = 100 * time.Microsecond
	}
	if opts.MaxBackoff == 0 {
		opts.MaxBackoff = 50 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	deadline := time.Now().Add(opts.Wait)
	pause := opts.MinBackoff
	wait := func() bool {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pause)
		pause = min(2*pause, opts.MaxBackoff)
		return true
	}
	var f vfs.File
	for {
		var err error
		f, err = fsys.Open(path)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("mdfile: open %s: %w", path, err)
		}
		if !wait() {
			return nil, fmt.Errorf("%w: %s does not exist after %v", ErrNotReady, path, opts.Wait)
		}
	}
	r := &Reader{f: f, path: path, opts: opts, log: opts.Logger}
	for {
		_, err := r.Load()
		if err == nil {
			return r, nil
		}
		if !errors.Is(err, ErrNotReady) || !wait() {
			f.Close()
			return nil, fmt.Errorf("mdfile: open %s: %w", path, err)
		}
	}
}

// Newest returns the newest valid header of the metadata file at path
// without loading its index: a cheap look at its status, identity and
// tick. A file without a valid header is ErrNotReady.
func Newest(fsys vfs.FS, path string) (Header, error) {
	f, err := fsys.Open(path)
	if err != nil {
		return Header{}, fmt.Errorf("mdfile: open %s: %w", path, err)
	}
	defer f.Close()
	r := &Reader{f: f, path: path}
	hs, err := r.readHeaders()
	if err != nil {
		return Header{}, err
	}
	return hs[0].h, nil
}

// Current is the snapshot the last successful Load returned.
func (r *Reader) Current() *Snapshot { return r.cur }

// PageSize is the page size the headers give.
func (r *Reader) PageSize() uint64 { return r.ps }

// Load returns the newest consistent snapshot. An unchanged tick returns
// the current snapshot itself; a heartbeat tick (new tick, same index)
// costs one header read; otherwise the root and the index pages that
// changed are read and checked, then the header is read again and the
// snapshot accepted only if it is unchanged. Failed attempts are retried
// with backoff up to opts.Retries times. A file without any valid header
// gives ErrNotReady.
func (r *Reader) Load() (*Snapshot, error) {
	if r.f == nil {
		return nil, ErrClosed
	}
	pause := r.opts.MinBackoff
	var last error
	for attempt := 0; attempt < r.opts.Retries; attempt++ {
		switch {
		case attempt == 0:
		case errors.Is(last, errUnstable):
			// The writer published while we read: it is making progress and
			// the next attempt will most likely see a stable header, so do
			// not back off (at 10 ms ticks a doubling pause would cost ticks).
			time.Sleep(r.opts.MinBackoff)
		default:
			time.Sleep(pause)
			pause = min(2*pause, r.opts.MaxBackoff)
		}
		snap, err := r.tryLoad()
		if err == nil {
			r.cur = snap
			return snap, nil
		}
		// Bad bytes, a header that moved, or a piece cut short by the
		// writer shrinking the file are worth another try; the rest is not.
		retry := errors.Is(err, corrupt.Err) || errors.Is(err, errUnstable) || errors.Is(err, io.ErrUnexpectedEOF)
		if !retry || errors.Is(err, ErrTickBackwards) || errors.Is(err, ErrWrongFile) {
			return nil, err
		}
		last = err
		r.log.Debug("metadata file load retry", zap.Int("attempt", attempt), zap.Error(err))
	}
	if errors.Is(last, ErrNotReady) {
		return nil, last
	}
	return nil, fmt.Errorf("%w after %d attempts on %s: %w", ErrNoSnapshot, r.opts.Retries, r.path, last)
}

// errUnstable: the header changed while its index was being read.
var errUnstable = errors.New("mdfile: header changed during load")

// tryLoad is one attempt of the load protocol.
func (r *Reader) tryLoad() (*Snapshot, error) {
	hs, err := r.readHeaders()
	if err != nil {
		return nil, err
	}
	best := hs[0].h
	if cur := r.cur; cur != nil {
		switch {
		case best.Tick < cur.Header.Tick:
			return nil, fmt.Errorf("%w: header tick %d, adopted %d", ErrTickBackwards, best.Tick, cur.Header.Tick)
		case best.Tick == cur.Header.Tick:
			if !sameIndex(best, cur.Header) {
				return nil, fmt.Errorf("%w: tick %d names another index", ErrWrongFile, best.Tick)
			}
			return cur, nil
		case sameIndex(best, cur.Header):
			return &Snapshot{Header: best, branches: cur.branches, count: cur.count}, nil
		}
	}
	var first error
	for _, c := range hs {
		if r.cur != nil && c.h.Tick <= r.cur.Header.Tick {
			break
		}
		snap, err := r.loadIndex(c.h)
		if err != nil {
			first = cmpOr(first, err)
			continue
		}
		if err := r.stable(c); err != nil {
			return nil, err
		}
		return snap, nil
	}
	return nil, first
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// sameIndex says whether two headers name the same index.
func sameIndex(a, b Header) bool {
	return a.IndexTick == b.IndexTick && a.RootOffset == b.RootOffset && a.RootLength == b.RootLength &&
		a.RootChecksum == b.RootChecksum && a.Entries == b.Entries
}

// readHeaders reads both slots and returns the valid ones, newest first.
// None valid is ErrNotReady (with the reason).
func (r *Reader) readHeaders() ([]slotHeader, error) {
	clear(r.head[:])
	// A short file leaves zeros: an invalid slot, not an error.
	if _, err := r.f.ReadAt(r.head[:], 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("mdfile: read headers of %s: %w", r.path, err)
	}
	var hs []slotHeader
	var why error
	for slot := range headerSlots {
		raw := r.head[slot*slotStride:][:HeaderSize]
		h, err := DecodeHeader(raw)
		if err != nil {
			if errors.Is(err, ErrBadVersion) || why == nil {
				why = fmt.Errorf("slot %d: %w", slot, err)
			}
			continue
		}
		if err := r.checkIdentity(h); err != nil {
			return nil, err
		}
		c := slotHeader{h: h, slot: slot}
		copy(c.raw[:], raw)
		hs = append(hs, c)
	}
	if len(hs) == 0 {
		if errors.Is(why, ErrBadVersion) {
			// Written by another format version: waiting will not help.
			return nil, fmt.Errorf("mdfile: %s: %w", r.path, why)
		}
		return nil, fmt.Errorf("%w: %s has no valid header (%v)", ErrNotReady, r.path, why)
	}
	slices.SortFunc(hs, func(a, b slotHeader) int { return -cmpUint(a.h.Tick, b.h.Tick) })
	return hs, nil
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// checkIdentity refuses a header of another data file or page size.
func (r *Reader) checkIdentity(h Header) error {
	if r.opts.FileID != ([16]byte{}) && h.FileID != r.opts.FileID {
		return fmt.Errorf("%w: %s belongs to data file %x, want %x", ErrWrongFile, r.path, h.FileID, r.opts.FileID)
	}
	if r.ps != 0 && uint64(h.PageSize) != r.ps {
		return fmt.Errorf("%w: page size of %s changed from %d to %d", ErrWrongFile, r.path, r.ps, h.PageSize)
	}
	if r.cur != nil && h.FileID != r.cur.Header.FileID {
		return fmt.Errorf("%w: file identity of %s changed", ErrWrongFile, r.path)
	}
	r.ps = uint64(h.PageSize)
	return nil
}

// stable re-reads the slot c came from and fails unless it is unchanged.
func (r *Reader) stable(c slotHeader) error {
	var again [HeaderSize]byte
	if err := vfs.ReadFull(r.f, again[:], int64(c.slot*slotStride)); err != nil {
		return fmt.Errorf("mdfile: re-read header slot %d: %w", c.slot, err)
	}
	if !bytes.Equal(again[:], c.raw[:]) {
		return fmt.Errorf("%w: slot %d of tick %d", errUnstable, c.slot, c.h.Tick)
	}
	return nil
}

// loadIndex reads and checks the index h names, reusing the index pages
// of the current snapshot that did not move or change.
func (r *Reader) loadIndex(h Header) (*Snapshot, error) {
	snap := &Snapshot{Header: h}
	if h.RootLength == 0 {
		return snap, nil
	}
	size, err := r.f.Size()
	if err != nil {
		return nil, fmt.Errorf("mdfile: size of %s: %w", r.path, err)
	}
	if h.RootOffset+h.RootLength > uint64(size) {
		return nil, corrupt.Errorf("mdfile: index root [%d,+%d) beyond end %d of %s: %w", h.RootOffset, h.RootLength, size, r.path, ErrBadBounds)
	}
	b := make([]byte, h.RootLength)
	if err := vfs.ReadFull(r.f, b, int64(h.RootOffset)); err != nil {
		return nil, fmt.Errorf("mdfile: read index root of tick %d: %w", h.Tick, err)
	}
	if sum := xxhash.Sum64(b); sum != h.RootChecksum {
		return nil, corrupt.Errorf("mdfile: index root of tick %d: checksum %#x, header says %#x: %w", h.Tick, sum, h.RootChecksum, ErrBadChecksum)
	}
	root, err := DecodeRoot(b, r.ps)
	if err != nil {
		return nil, fmt.Errorf("tick %d: %w", h.Tick, err)
	}
	if root.Tick != h.IndexTick {
		return nil, corrupt.Errorf("mdfile: index root of tick %d written at %d, header says %d: %w", h.Tick, root.Tick, h.IndexTick, ErrTickMismatch)
	}
	if root.Entries != h.Entries {
		return nil, corrupt.Errorf("mdfile: index root has %d entries, header says %d: %w", root.Entries, h.Entries, ErrBadBounds)
	}
	var old []*rbranch
	if r.cur != nil {
		old = r.cur.branches
	}
	snap.branches = make([]*rbranch, len(root.Refs))
	var total uint64
	k := 0 // cursor in old, both sorted by first page
	for i, ref := range root.Refs {
		for k < len(old) && old[k].ref.First < ref.First {
			k++
		}
		br := (*rbranch)(nil)
		if k < len(old) && old[k].ref == ref {
			br = old[k]
		} else if br, err = r.readBranch(ref, root.Tick, uint64(size)); err != nil {
			return nil, fmt.Errorf("tick %d, branch %d: %w", h.Tick, i, err)
		}
		snap.branches[i] = br
		total += br.entries
		if i > 0 {
			if err := r.checkBoundary(snap.branches[i-1].leaves, ref.First); err != nil {
				return nil, err
			}
		}
	}
	if total != root.Entries {
		return nil, corrupt.Errorf("mdfile: branches hold %d entries, root says %d: %w", total, root.Entries, ErrBadBounds)
	}
	snap.count = int(root.Entries)
	return snap, nil
}

// checkBoundary fails when the last entry of leaves reaches page next.
func (r *Reader) checkBoundary(leaves []*rleaf, next uint64) error {
	es := leaves[len(leaves)-1].entries
	last := es[len(es)-1]
	if end := last.Page + last.pages(r.ps); next < end {
		return corrupt.Errorf("mdfile: index entries up to page %d, the next page starts at %d: %w", end, next, ErrUnsorted)
	}
	return nil
}

// readBranch reads and checks one branch page and the index pages it
// lists, reusing those of the current snapshot that did not change.
func (r *Reader) readBranch(ref Ref, rootTick, size uint64) (*rbranch, error) {
	b, err := r.readChild(ref, size)
	if err != nil {
		return nil, err
	}
	n, err := DecodeBranch(b, r.ps)
	if err != nil {
		return nil, err
	}
	if n.Tick > rootTick {
		return nil, corrupt.Errorf("mdfile: branch written at tick %d, after its root's %d: %w", n.Tick, rootTick, ErrTickMismatch)
	}
	if n.Refs[0].First != ref.First {
		return nil, corrupt.Errorf("mdfile: branch starts at page %d, root says %d: %w", n.Refs[0].First, ref.First, ErrBadBounds)
	}
	br := &rbranch{ref: ref, leaves: make([]*rleaf, len(n.Refs)), entries: n.Entries}
	for j, lr := range n.Refs {
		l := r.cur.leaf(lr)
		if l == nil {
			if l, err = r.readLeaf(lr, n.Tick, size); err != nil {
				return nil, fmt.Errorf("index page %d: %w", j, err)
			}
		}
		br.leaves[j] = l
		if j > 0 {
			if err := r.checkBoundary(br.leaves[j-1:j], lr.First); err != nil {
				return nil, err
			}
		}
	}
	return br, nil
}

// readChild reads the bytes ref names and checks them against its checksum.
func (r *Reader) readChild(ref Ref, size uint64) ([]byte, error) {
	off := ref.Offset
	if off+uint64(ref.Length) > size {
		return nil, corrupt.Errorf("mdfile: index piece [%d,+%d) beyond end %d: %w", off, ref.Length, size, ErrBadBounds)
	}
	b := make([]byte, ref.Length)
	if err := vfs.ReadFull(r.f, b, int64(off)); err != nil {
		return nil, fmt.Errorf("mdfile: read index piece: %w", err)
	}
	if sum := xxhash.Sum64(b); sum != ref.Checksum {
		return nil, corrupt.Errorf("mdfile: index piece at byte %d: checksum %#x, parent says %#x: %w", ref.Offset, sum, ref.Checksum, ErrBadChecksum)
	}
	return b, nil
}

// readLeaf reads and checks one index page against its reference.
func (r *Reader) readLeaf(ref Ref, parentTick, size uint64) (*rleaf, error) {
	b, err := r.readChild(ref, size)
	if err != nil {
		return nil, err
	}
	l, err := DecodeLeaf(b, r.ps)
	if err != nil {
		return nil, err
	}
	if l.Tick > parentTick {
		return nil, corrupt.Errorf("mdfile: index page written at tick %d, after its branch's %d: %w", l.Tick, parentTick, ErrTickMismatch)
	}
	if l.Entries[0].Page != ref.First {
		return nil, corrupt.Errorf("mdfile: index page starts at page %d, branch says %d: %w", l.Entries[0].Page, ref.First, ErrBadBounds)
	}
	return &rleaf{ref: ref, entries: l.Entries}, nil
}

// ReadImage reads the image of e into p (len(p) == e.Length): its stored
// bytes, then zeros, checked against the entry's checksum. A stored length
// that cannot be right (longer than the image, or ending in a zero byte,
// which the writer strips) is corruption, as is a checksum mismatch.
func (r *Reader) ReadImage(e Entry, p []byte) error {
	return readImage(r.f, r.ps, e, p)
}

func readImage(f io.ReaderAt, ps uint64, e Entry, p []byte) error {
	if uint64(len(p)) != e.Length {
		return fmt.Errorf("mdfile: image of page %d is %d bytes, buffer %d", e.Page, e.Length, len(p))
	}
	if err := e.check(ps); err != nil {
		return corrupt.Errorf("mdfile: image entry: %w", err)
	}
	if err := vfs.ReadFull(f, p[:e.Stored], int64(e.Offset)); err != nil {
		return fmt.Errorf("mdfile: read image of page %d: %w", e.Page, err)
	}
	h, gap := e.head(), e.Length-e.Stored
	copy(p[h+gap:], p[h:e.Stored]) // the tail to the end (memmove)
	clear(p[h : h+gap])
	// The writer cuts out a whole run of zeros: the bytes around it are not zeros.
	if (h > 0 && p[h-1] == 0) || (e.Tail > 0 && p[h+gap] == 0) || (e.Tail > 0 && gap == 0) {
		return corrupt.Errorf("mdfile: image of page %d: %d bytes stored at byte %d (%d of them its end) do not surround a run of zeros: %w",
			e.Page, e.Stored, e.Offset, e.Tail, ErrBadBounds)
	}
	if sum := xxhash.Sum64(p); sum != e.Checksum {
		return corrupt.Errorf("mdfile: image of page %d, %d bytes stored at byte %d: checksum %#x, index says %#x: %w",
			e.Page, e.Stored, e.Offset, sum, e.Checksum, ErrImageChecksum)
	}
	return nil
}

// WriterTick peeks at the headers and returns the newest valid tick: how
// far a snapshot lags is WriterTick() - snapshot.Tick().
func (r *Reader) WriterTick() (uint64, error) {
	h, err := r.WriterHeader()
	return h.Tick, err
}

// WriterHeader peeks at the headers and returns the newest valid one
// (one 1 KiB read): its tick, and its status, which says whether the
// writer is finalising.
func (r *Reader) WriterHeader() (Header, error) {
	hs, err := r.readHeaders()
	if err != nil {
		return Header{}, err
	}
	return hs[0].h, nil
}

// CheckLag fails with ErrTooFarBehind when snap's tick is older than the
// oldest tick the newest header lets a reader be on: its pages may since
// have been reused.
func (r *Reader) CheckLag(snap *Snapshot) error {
	h, err := r.WriterHeader()
	if err != nil {
		return err
	}
	return TooFarBehind(snap.Tick(), h)
}

// TooFarBehind returns ErrTooFarBehind, with the figures, when a reader on
// tick is older than newest.OldestTick: newest is the newest header, read
// after the reader loaded a page, and the page cannot be trusted.
func TooFarBehind(tick uint64, newest Header) error {
	if tick >= newest.OldestTick {
		return nil
	}
	return fmt.Errorf("%w: snapshot of tick %d, writer at %d, oldest tick a reader may be on %d (max lag %d)",
		ErrTooFarBehind, tick, newest.Tick, newest.OldestTick, newest.MaxLag)
}

// Close closes the file.
func (r *Reader) Close() error {
	if r.f == nil {
		return ErrClosed
	}
	err := r.f.Close()
	r.f = nil
	return err
}

// Unpublished reports whether the file at path is what a writer leaves
// when it dies before its first tick is published: at least the header
// slots long (Create sizes it at once), neither slot written, or only the
// first one, torn (a prefix of a header: the magic, or a part of it,
// then anything, then zeros). Any other file without a valid header is
// not recognisably a metadata file.
func Unpublished(fsys vfs.FS, path string) (bool, error) {
	f, err := fsys.Open(path)
	if err != nil {
		return false, fmt.Errorf("mdfile: open %s: %w", path, err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return false, fmt.Errorf("mdfile: size of %s: %w", path, err)
	}
	if size < headerBytes {
		return false, nil
	}
	var head [headerBytes]byte
	if err := vfs.ReadFull(f, head[:], 0); err != nil {
		return false, fmt.Errorf("mdfile: read headers of %s: %w", path, err)
	}
	written := len(bytes.TrimRight(head[:HeaderSize], "\x00"))
	magic := min(written, len(headerMagic))
	torn := string(head[:magic]) == headerMagic[:magic]
	return torn && allZero(head[HeaderSize:]), nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
