package mdfile

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/cespare/xxhash/v2"

	"pwstore/internal/storage/corrupt"
)

// Frozen: on-disk constants of the metadata file header.
const (
	headerMagic = "PWMH" // Frozen: header signature.
	// formatVersion is the version of index root, branch and index page.
	// Version 1 stored whole page images at page-aligned places; version 2
	// stores them without their zero tail at byte offsets.
	formatVersion = 2 // Frozen: this format.
	// headerVersion is the version of a header slot. Version 3 adds
	// status finalising, which a version 2 reader must not take for a bad
	// slot and skip (it would then read pages written early under it):
	// the version tells it to refuse the file. Version 4 adds the oldest
	// tick, which a version 3 reader would not check (it would trust
	// pages of a tick it thinks within max_lag after the writer gave it
	// up); version 3 headers are still read.
	headerVersion = 4 // Frozen: this header format.
	// headerVersion3 is the previous header format, read but not written
	// by writers: 104 bytes, no oldest tick (it is tick - max_lag + 1).
	headerVersion3 = 3   // Frozen.
	headerSize3    = 104 // Frozen: a version 3 slot's length.
	// HeaderSize is the encoded size of one (version 4) header slot in bytes.
	HeaderSize = 112 // Frozen: header slot length.
	// headerSlots is the number of header slots, at byte offsets 0 and
	// slotStride, so a reader finds both before it knows the page size.
	headerSlots = 2   // Frozen: slot count.
	slotStride  = 512 // Frozen: distance between slots (one sector).
	// headerBytes is the head of the file owned by the header slots:
	// nothing else is ever written below it.
	headerBytes = headerSlots * slotStride // Frozen.
	// MinPageSize and MaxPageSize bound the page size (a power of two).
	MinPageSize = 512     // Frozen.
	MaxPageSize = 1 << 20 // Frozen.
)

// Status says what the writer was doing when it wrote a header.
type Status uint32

// Frozen: status word values.
const (
	StatusOpen     Status = 1 // Frozen: a writer is (or was, if it crashed) publishing.
	StatusClosed   Status = 2 // Frozen: the writer closed cleanly; the data file is complete.
	StatusConsumed Status = 3 // Frozen: recovery copied the index into the data file.
	// StatusFinalising (header version 3): the writer published its last
	// tick and now writes every page it still held back into the data file
	// at once. A reader on an older tick must not trust a data-file page it
	// loads from now on (see the package doc, "Finalising").
	StatusFinalising Status = 4 // Frozen.
)

// Live says whether a writer is, or was when it crashed, still at work:
// open or finalising. The data file may then lack pages the index holds,
// so the file needs its writer or recovery.
func (s Status) Live() bool { return s == StatusOpen || s == StatusFinalising }

func (s Status) String() string {
	switch s {
	case StatusOpen:
		return "open"
	case StatusClosed:
		return "closed"
	case StatusConsumed:
		return "consumed"
	case StatusFinalising:
		return "finalising"
	}
	return "unknown"
}

// Header is one decoded header slot.
type Header struct {
	// Version is the header format: 0 or 4 encodes version 4, 3 the
	// version 3 layout (DecodeHeader sets what it read).
	Version  uint32
	PageSize uint32
	Status   Status
	// Tick is the tick this header publishes.
	Tick uint64
	// IndexTick is the tick at which the index was last changed: a
	// heartbeat publishes a new Tick with the same index and IndexTick.
	IndexTick uint64
	// RootOffset and RootLength locate the index root in bytes; both are
	// zero for an empty index.
	RootOffset uint64
	RootLength uint64
	// RootChecksum is the xxhash64 of the root's bytes.
	RootChecksum uint64
	// Entries is the number of index entries.
	Entries uint64
	// FileID is the data file's identity.
	FileID [16]byte
	// Heartbeat is the writer's clock when it wrote this header.
	Heartbeat time.Time
	// MaxLag is the writer's max_lag.
	MaxLag uint32
	// ReservedPages is md_pages_reserved, header slots included.
	ReservedPages uint32
	// OldestTick is the oldest tick a reader may still be on (1 <= it <=
	// Tick): the writer keeps everything ticks from it on may read until
	// it publishes a header with a higher one. A reader on an older tick
	// is too far behind. Version 3 stores none: it is then Tick - MaxLag
	// + 1 (at least 1), the rule those writers kept.
	OldestTick uint64
}

// oldestByTicks is the oldest tick a reader of tick may be on by the
// ticks rule alone: max_lag - 1 ticks behind it (at least tick 1).
func oldestByTicks(tick, maxLag uint64) uint64 {
	if tick < maxLag {
		return 1
	}
	return tick - maxLag + 1
}

// Size is the encoded length of h: HeaderSize, or 104 for version 3.
func (h *Header) Size() int {
	if h.Version == headerVersion3 {
		return headerSize3
	}
	return HeaderSize
}

// Encode writes h into b, which must be at least h.Size() bytes.
func (h *Header) Encode(b []byte) {
	v, n := uint32(headerVersion), h.Size()
	if n == headerSize3 {
		v = headerVersion3
	}
	b = b[:n]
	copy(b[0:4], headerMagic)
	le := binary.LittleEndian
	le.PutUint32(b[4:], v)
	le.PutUint32(b[8:], h.PageSize)
	le.PutUint32(b[12:], uint32(h.Status))
	le.PutUint64(b[16:], h.Tick)
	le.PutUint64(b[24:], h.IndexTick)
	le.PutUint64(b[32:], h.RootOffset)
	le.PutUint64(b[40:], h.RootLength)
	le.PutUint64(b[48:], h.RootChecksum)
	le.PutUint64(b[56:], h.Entries)
	copy(b[64:80], h.FileID[:])
	le.PutUint64(b[80:], uint64(h.Heartbeat.UnixNano()))
	le.PutUint32(b[88:], h.MaxLag)
	le.PutUint32(b[92:], h.ReservedPages)
	if v == headerVersion3 {
		le.PutUint64(b[96:], xxhash.Sum64(b[:96]))
		return
	}
	le.PutUint64(b[96:], h.OldestTick)
	le.PutUint64(b[104:], xxhash.Sum64(b[:104]))
}

// DecodeHeader validates and decodes a header slot: magic, version and
// checksum first, then every field. Each failure wraps its own sentinel
// and corrupt.Err.
func DecodeHeader(b []byte) (Header, error) {
	var h Header
	if len(b) < headerSize3 {
		return h, corrupt.Errorf("mdfile header: %d bytes, need %d: %w", len(b), headerSize3, ErrBadLength)
	}
	if string(b[0:4]) != headerMagic {
		return h, corrupt.Errorf("mdfile header: signature %q: %w", b[0:4], ErrBadMagic)
	}
	le := binary.LittleEndian
	h.Version = le.Uint32(b[4:])
	n := HeaderSize
	switch h.Version {
	case headerVersion:
	case headerVersion3:
		n = headerSize3
	default:
		return h, fmt.Errorf("mdfile header: version %d, this reader knows %d and %d: %w", h.Version, headerVersion3, headerVersion, ErrBadVersion)
	}
	if len(b) < n {
		return h, corrupt.Errorf("mdfile header: %d bytes, need %d: %w", len(b), n, ErrBadLength)
	}
	b = b[:n]
	if sum, want := xxhash.Sum64(b[:n-8]), le.Uint64(b[n-8:]); sum != want {
		return h, corrupt.Errorf("mdfile header: checksum %#x, stored %#x: %w", sum, want, ErrBadChecksum)
	}
	h.PageSize = le.Uint32(b[8:])
	h.Status = Status(le.Uint32(b[12:]))
	h.Tick = le.Uint64(b[16:])
	h.IndexTick = le.Uint64(b[24:])
	h.RootOffset = le.Uint64(b[32:])
	h.RootLength = le.Uint64(b[40:])
	h.RootChecksum = le.Uint64(b[48:])
	h.Entries = le.Uint64(b[56:])
	copy(h.FileID[:], b[64:80])
	h.Heartbeat = time.Unix(0, int64(le.Uint64(b[80:])))
	h.MaxLag = le.Uint32(b[88:])
	h.ReservedPages = le.Uint32(b[92:])
	if h.Version == headerVersion3 {
		h.OldestTick = oldestByTicks(h.Tick, uint64(h.MaxLag))
	} else {
		h.OldestTick = le.Uint64(b[96:])
	}
	return h, h.check()
}

// check validates the fields of a header whose checksum is good.
func (h *Header) check() error {
	if !validPageSize(uint64(h.PageSize)) {
		return corrupt.Errorf("mdfile header: page size %d: %w", h.PageSize, ErrBadField)
	}
	if h.Status < StatusOpen || h.Status > StatusFinalising {
		return corrupt.Errorf("mdfile header: status %d: %w", h.Status, ErrBadField)
	}
	if h.Tick == 0 {
		return corrupt.Errorf("mdfile header: tick 0: %w", ErrBadField)
	}
	if h.IndexTick > h.Tick {
		return corrupt.Errorf("mdfile header: index tick %d after tick %d: %w", h.IndexTick, h.Tick, ErrTickMismatch)
	}
	if h.MaxLag == 0 || uint64(h.ReservedPages) < headerPages(uint64(h.PageSize)) {
		return corrupt.Errorf("mdfile header: max lag %d, reserved pages %d: %w", h.MaxLag, h.ReservedPages, ErrBadField)
	}
	if h.OldestTick == 0 || h.OldestTick > h.Tick {
		return corrupt.Errorf("mdfile header: oldest tick %d, tick %d: %w", h.OldestTick, h.Tick, ErrTickMismatch)
	}
	if h.RootLength == 0 {
		if h.RootOffset != 0 || h.Entries != 0 || h.RootChecksum != 0 {
			return corrupt.Errorf("mdfile header: empty index with offset %d, %d entries: %w", h.RootOffset, h.Entries, ErrBadBounds)
		}
		return nil
	}
	if h.RootOffset < headerBytes || h.RootOffset > maxOffset-h.RootLength {
		return corrupt.Errorf("mdfile header: index root at %d: %w", h.RootOffset, ErrBadBounds)
	}
	if h.RootLength < rootFixed || (h.RootLength-rootFixed)%refSize != 0 || h.RootLength > maxRootLength {
		return corrupt.Errorf("mdfile header: index root length %d: %w", h.RootLength, ErrBadBounds)
	}
	return nil
}

// maxOffset bounds every byte offset in the file so that offset arithmetic
// never overflows int64 (vfs offsets are int64).
const maxOffset = 1<<63 - 1

// headerPages is the number of pages the header slots occupy.
func headerPages(ps uint64) uint64 { return (headerBytes + ps - 1) / ps }

func validPageSize(ps uint64) bool {
	return ps >= MinPageSize && ps <= MaxPageSize && ps&(ps-1) == 0
}
