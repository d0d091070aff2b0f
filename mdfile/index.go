package mdfile

import (
	"encoding/binary"
	"fmt"

	"github.com/cespare/xxhash/v2"

	"pwstore/internal/storage/corrupt"
)

// Frozen: on-disk constants of the index root, branch pages and index
// pages (leaves).
const (
	rootMagic   = "PWMR" // Frozen: index root signature.
	branchMagic = "PWMB" // Frozen: branch page signature.
	leafMagic   = "PWML" // Frozen: index page signature.
	rootFixed   = 40     // Frozen: root or branch bytes besides its refs (32 before, 8 checksum after).
	refSize     = 32     // Frozen: one reference to a child page.
	leafFixed   = 32     // Frozen: leaf bytes besides its entries (24 before, 8 after).
	entrySize   = 36     // Frozen: one index entry.
	// maxRootLength bounds a root a reader will allocate for (2^27 refs).
	maxRootLength = rootFixed + refSize<<27
	// maxImagePages and maxStored bound an entry: its 32-bit fields.
	maxImagePages = 1<<32 - 1
	maxStored     = 1<<32 - 1
)

// Entry is one index entry: the image of data-file page Page (Length bytes,
// a whole number of pages) is stored at byte Offset of the metadata file
// without its longest run of zeros: Stored bytes, of which the last Tail
// are the image's last bytes and the others its first; the image is them
// with zeros between.
type Entry struct {
	Page     uint64 // data-file page
	Offset   uint64 // metadata-file byte offset of the stored bytes
	Length   uint64 // bytes of the image, a multiple of the page size
	Stored   uint64 // bytes stored (<= Length)
	Tail     uint64 // of them, the bytes that end the image (<= Stored)
	Checksum uint64 // xxhash64 of the whole image (Length bytes)
}

// head is the number of stored bytes that start the image.
func (e Entry) head() uint64 { return e.Stored - e.Tail }

// pages is the entry's length in pages.
func (e Entry) pages(ps uint64) uint64 { return e.Length / ps }

// check validates an entry's fields for page size ps: a positive whole
// number of pages, at most 2^32-1 of them, stored in at most that many
// bytes (and fewer than 2^32), its tail part of them, outside the header
// slots, no offset or page arithmetic overflowing. The error wraps
// ErrBadBounds.
func (e Entry) check(ps uint64) error {
	switch {
	case e.Length == 0 || e.Length%ps != 0 || e.Length/ps > maxImagePages:
		return fmt.Errorf("page %d: length %d: %w", e.Page, e.Length, ErrBadBounds)
	case e.Stored > e.Length || e.Stored > maxStored || e.Tail > e.Stored:
		return fmt.Errorf("page %d: %d bytes stored (%d of them its end) for an image of %d: %w", e.Page, e.Stored, e.Tail, e.Length, ErrBadBounds)
	case e.Offset < headerBytes || e.Offset > maxOffset-e.Stored || e.Page > maxPage-e.pages(ps):
		return fmt.Errorf("page %d (%d bytes stored at byte %d, %d pages): %w", e.Page, e.Stored, e.Offset, e.pages(ps), ErrBadBounds)
	}
	return nil
}

// Ref is a reference to a child page: from the root to a branch page, or
// from a branch page to an index page (leaf).
type Ref struct {
	First    uint64 // data-file page of the first entry under the child
	Offset   uint64 // metadata-file byte offset of the child
	Length   uint32 // child length in bytes
	Count    uint32 // refs in a branch child, entries in a leaf child
	Checksum uint64 // xxhash64 of the child's bytes
}

// Node is a decoded index root or branch page.
type Node struct {
	Tick    uint64 // the tick that wrote it
	Entries uint64 // index entries under it
	Refs    []Ref  // children, sorted by First
}

// Leaf is a decoded index page.
type Leaf struct {
	Tick    uint64 // the tick that wrote it
	Entries []Entry
}

func nodeLength(refs int) uint64 { return rootFixed + uint64(refs)*refSize }

func leafLength(entries int) uint64 { return leafFixed + uint64(entries)*entrySize }

// encodeNode appends an encoded root (magic rootMagic) or branch page.
func encodeNode(b []byte, magic string, tick, entries uint64, refs []Ref) []byte {
	start := len(b)
	le := binary.LittleEndian
	b = append(b, magic...)
	b = le.AppendUint32(b, formatVersion)
	b = le.AppendUint64(b, tick)
	b = le.AppendUint64(b, uint64(len(refs)))
	b = le.AppendUint64(b, entries)
	for _, r := range refs {
		b = le.AppendUint64(b, r.First)
		b = le.AppendUint64(b, r.Offset)
		b = le.AppendUint32(b, r.Length)
		b = le.AppendUint32(b, r.Count)
		b = le.AppendUint64(b, r.Checksum)
	}
	return le.AppendUint64(b, xxhash.Sum64(b[start:]))
}

// DecodeRoot validates and decodes an index root of exactly len(b) bytes
// for a file of page size ps. Its refs point at branch pages.
func DecodeRoot(b []byte, ps uint64) (Node, error) {
	return decodeNode(b, ps, rootMagic, "index root", nodeLength)
}

// DecodeBranch validates and decodes a branch page of exactly len(b) bytes
// for a file of page size ps. Its refs point at index pages (leaves); the
// entries it counts must be the sum of theirs.
func DecodeBranch(b []byte, ps uint64) (Node, error) {
	n, err := decodeNode(b, ps, branchMagic, "index branch", leafLength)
	if err != nil {
		return n, err
	}
	var total uint64
	for _, r := range n.Refs {
		total += uint64(r.Count)
	}
	if total != n.Entries {
		return n, corrupt.Errorf("mdfile index branch: leaves hold %d entries, branch says %d: %w", total, n.Entries, ErrBadBounds)
	}
	return n, nil
}

// decodeNode decodes a root or branch page whose children are childLength
// bytes for their Count.
func decodeNode(b []byte, ps uint64, magic, what string, childLength func(int) uint64) (Node, error) {
	var r Node
	if len(b) < rootFixed {
		return r, corrupt.Errorf("mdfile %s: %d bytes: %w", what, len(b), ErrBadLength)
	}
	if string(b[0:4]) != magic {
		return r, corrupt.Errorf("mdfile %s: signature %q: %w", what, b[0:4], ErrBadMagic)
	}
	le := binary.LittleEndian
	if v := le.Uint32(b[4:]); v != formatVersion {
		return r, fmt.Errorf("mdfile %s: version %d, this reader knows %d: %w", what, v, formatVersion, ErrBadVersion)
	}
	n := le.Uint64(b[16:])
	if n > (uint64(len(b))-rootFixed)/refSize || nodeLength(int(n)) != uint64(len(b)) {
		return r, corrupt.Errorf("mdfile %s: %d refs in %d bytes: %w", what, n, len(b), ErrBadLength)
	}
	end := len(b) - 8
	if sum, want := xxhash.Sum64(b[:end]), le.Uint64(b[end:]); sum != want {
		return r, corrupt.Errorf("mdfile %s: checksum %#x, stored %#x: %w", what, sum, want, ErrBadChecksum)
	}
	r.Tick = le.Uint64(b[8:])
	r.Entries = le.Uint64(b[24:])
	if r.Tick == 0 {
		return r, corrupt.Errorf("mdfile %s: tick 0: %w", what, ErrBadField)
	}
	r.Refs = make([]Ref, n)
	for i := range r.Refs {
		p := b[32+i*refSize:]
		ref := Ref{
			First:    le.Uint64(p),
			Offset:   le.Uint64(p[8:]),
			Length:   le.Uint32(p[16:]),
			Count:    le.Uint32(p[20:]),
			Checksum: le.Uint64(p[24:]),
		}
		if ref.Count == 0 || uint64(ref.Length) != childLength(int(ref.Count)) {
			return r, corrupt.Errorf("mdfile %s: child %d has count %d in %d bytes: %w", what, i, ref.Count, ref.Length, ErrBadLength)
		}
		if ref.Offset < headerBytes || ref.Offset > maxOffset-uint64(ref.Length) {
			return r, corrupt.Errorf("mdfile %s: child %d at byte %d: %w", what, i, ref.Offset, ErrBadBounds)
		}
		if i > 0 && ref.First <= r.Refs[i-1].First {
			return r, corrupt.Errorf("mdfile %s: child %d starts at page %d, not after %d: %w", what, i, ref.First, r.Refs[i-1].First, ErrUnsorted)
		}
		r.Refs[i] = ref
	}
	return r, nil
}

// encodeLeaf appends the encoded leaf to b.
func encodeLeaf(b []byte, ps, tick uint64, entries []Entry) []byte {
	start := len(b)
	le := binary.LittleEndian
	b = append(b, leafMagic...)
	b = le.AppendUint32(b, formatVersion)
	b = le.AppendUint64(b, tick)
	b = le.AppendUint64(b, uint64(len(entries)))
	for _, e := range entries {
		b = le.AppendUint64(b, e.Page)
		b = le.AppendUint64(b, e.Offset)
		b = le.AppendUint32(b, uint32(e.Length/ps))
		b = le.AppendUint32(b, uint32(e.Stored))
		b = le.AppendUint32(b, uint32(e.Tail))
		b = le.AppendUint64(b, e.Checksum)
	}
	return le.AppendUint64(b, xxhash.Sum64(b[start:]))
}

// DecodeLeaf validates and decodes an index page of exactly len(b) bytes
// for a file of page size ps: entries sorted by data-file page, not
// overlapping, each a positive whole number of pages stored in at most
// that many bytes, none in the header slots of the metadata file.
func DecodeLeaf(b []byte, ps uint64) (Leaf, error) {
	var l Leaf
	if len(b) < leafFixed {
		return l, corrupt.Errorf("mdfile index page: %d bytes: %w", len(b), ErrBadLength)
	}
	if string(b[0:4]) != leafMagic {
		return l, corrupt.Errorf("mdfile index page: signature %q: %w", b[0:4], ErrBadMagic)
	}
	le := binary.LittleEndian
	if v := le.Uint32(b[4:]); v != formatVersion {
		return l, fmt.Errorf("mdfile index page: version %d, this reader knows %d: %w", v, formatVersion, ErrBadVersion)
	}
	n := le.Uint64(b[16:])
	if n > (uint64(len(b))-leafFixed)/entrySize || leafLength(int(n)) != uint64(len(b)) {
		return l, corrupt.Errorf("mdfile index page: %d entries in %d bytes: %w", n, len(b), ErrBadLength)
	}
	end := len(b) - 8
	if sum, want := xxhash.Sum64(b[:end]), le.Uint64(b[end:]); sum != want {
		return l, corrupt.Errorf("mdfile index page: checksum %#x, stored %#x: %w", sum, want, ErrBadChecksum)
	}
	l.Tick = le.Uint64(b[8:])
	if l.Tick == 0 {
		return l, corrupt.Errorf("mdfile index page: tick 0: %w", ErrBadField)
	}
	l.Entries = make([]Entry, n)
	for i := range l.Entries {
		p := b[24+i*entrySize:]
		e := Entry{Page: le.Uint64(p), Offset: le.Uint64(p[8:]), Length: uint64(le.Uint32(p[16:])) * ps,
			Stored: uint64(le.Uint32(p[20:])), Tail: uint64(le.Uint32(p[24:])), Checksum: le.Uint64(p[28:])}
		if err := e.check(ps); err != nil {
			return l, corrupt.Errorf("mdfile index page: entry %d: %w", i, err)
		}
		if i > 0 {
			prev := l.Entries[i-1]
			if e.Page < prev.Page+prev.pages(ps) {
				return l, corrupt.Errorf("mdfile index page: entry %d (page %d) overlaps or precedes page %d: %w", i, e.Page, prev.Page, ErrUnsorted)
			}
		}
		l.Entries[i] = e
	}
	return l, nil
}

// maxPage bounds data-file pages so that Page+pages never overflows.
const maxPage = 1<<64 - 1
