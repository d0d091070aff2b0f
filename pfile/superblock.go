package pfile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/cespare/xxhash/v2"

	"pwstore/internal/storage/corrupt"
	"pwstore/vfs"
)

// Frozen: superblock layout (see the package doc).
const (
	sbVersion = 3  // Frozen: superblock format version this code writes (it reads 1 to 3).
	sbSize    = 80 // Frozen: bytes of page 0 the superblock uses.
	sbSumAt   = 64 // Frozen: offset of the checksum, which covers the whole page but itself.
	sbExtAt   = 72 // Frozen: offset of the open extent table's page (version 2; zero in version 1).

	// MinPageSize and MaxPageSize bound the page size (a power of two).
	MinPageSize = 512     // Frozen
	MaxPageSize = 1 << 20 // Frozen
)

// Frozen: superblock magic. The high byte and CR LF SUB LF catch text-mode
// transfers, as PNG's signature does.
var sbMagic = [8]byte{0x89, 'P', 'W', 'S', '\r', '\n', 0x1a, '\n'}

// Superblock is the decoded page 0 of a data file.
type Superblock struct {
	PageSize    int
	ID          [16]byte
	CatalogRoot uint64 // page of the catalog B+tree root node
	EOA         uint64 // end of allocation, in pages: nothing lives at or beyond it
	FreeList    uint64 // page of the persisted free-space list, 0 if none
	FreePages   uint32 // its length in pages
	Extents     uint64 // page of the extent table new datasets' slots go to, 0 if none yet
}

func validPageSize(ps int) bool {
	return ps >= MinPageSize && ps <= MaxPageSize && ps&(ps-1) == 0
}

func (sb *Superblock) encode() []byte {
	img := make([]byte, sb.PageSize)
	copy(img[0:8], sbMagic[:])
	binary.LittleEndian.PutUint32(img[8:], sbVersion)
	binary.LittleEndian.PutUint32(img[12:], uint32(sb.PageSize))
	copy(img[16:32], sb.ID[:])
	binary.LittleEndian.PutUint64(img[32:], sb.CatalogRoot)
	binary.LittleEndian.PutUint64(img[40:], sb.EOA)
	binary.LittleEndian.PutUint64(img[48:], sb.FreeList)
	binary.LittleEndian.PutUint32(img[56:], sb.FreePages)
	binary.LittleEndian.PutUint64(img[sbExtAt:], sb.Extents)
	binary.LittleEndian.PutUint64(img[sbSumAt:], sbSum(img))
	return img
}

func sbSum(img []byte) uint64 {
	d := xxhash.New()
	d.Write(img[:sbSumAt])
	d.Write(img[sbSumAt+8:])
	return d.Sum64()
}

// DecodeSuperblock validates and decodes the image of page 0: magic,
// version, page size (valid, and the image's length), checksum, then every
// field's bounds. Each failure wraps corrupt.Err and a distinct sentinel
// where one applies (ErrTruncated, ErrNotPWFile, ErrVersion, ErrPageSize,
// ErrChecksum).
func DecodeSuperblock(img []byte) (Superblock, error) {
	ps, err := sbPrefix(img)
	if err != nil {
		return Superblock{}, err
	}
	if len(img) != ps {
		return Superblock{}, corrupt.Errorf("superblock says %d-byte pages, page 0 read as %d bytes: %w", ps, len(img), ErrPageSize)
	}
	if sum := binary.LittleEndian.Uint64(img[sbSumAt:]); sum != sbSum(img) {
		return Superblock{}, corrupt.Errorf("superblock: %w", ErrChecksum)
	}
	sb := Superblock{
		PageSize:    ps,
		ID:          [16]byte(img[16:32]),
		CatalogRoot: binary.LittleEndian.Uint64(img[32:]),
		EOA:         binary.LittleEndian.Uint64(img[40:]),
		FreeList:    binary.LittleEndian.Uint64(img[48:]),
		FreePages:   binary.LittleEndian.Uint32(img[56:]),
		Extents:     binary.LittleEndian.Uint64(img[sbExtAt:]), // zero in version 1: the rest of its page
	}
	if sb.EOA < 2 || sb.EOA > maxPages(sb.PageSize) {
		return Superblock{}, corrupt.Errorf("superblock end of allocation %d pages out of range", sb.EOA)
	}
	if sb.CatalogRoot < 1 || sb.CatalogRoot >= sb.EOA {
		return Superblock{}, corrupt.Errorf("superblock catalog root %d outside [1, %d)", sb.CatalogRoot, sb.EOA)
	}
	if sb.FreeList != 0 && (sb.FreePages == 0 || sb.FreeList >= sb.EOA || uint64(sb.FreePages) > sb.EOA-sb.FreeList) {
		return Superblock{}, corrupt.Errorf("superblock free list %d+%d outside end of allocation %d", sb.FreeList, sb.FreePages, sb.EOA)
	}
	if sb.Extents >= sb.EOA {
		return Superblock{}, corrupt.Errorf("superblock extent table %d outside end of allocation %d", sb.Extents, sb.EOA)
	}
	if sb.FreeList == 0 && sb.FreePages != 0 {
		return Superblock{}, corrupt.Errorf("superblock free list length %d without an address", sb.FreePages)
	}
	return sb, nil
}

// sbPrefix checks the first sbSize bytes of a superblock (magic, version,
// page size) and returns the page size.
func sbPrefix(img []byte) (int, error) {
	if len(img) < sbSize {
		return 0, corrupt.Errorf("superblock: %d bytes, need %d: %w", len(img), sbSize, ErrTruncated)
	}
	if [8]byte(img[0:8]) != sbMagic {
		return 0, corrupt.Errorf("superblock magic %x: %w", img[0:8], ErrNotPWFile)
	}
	if v := binary.LittleEndian.Uint32(img[8:]); v < 1 || v > sbVersion {
		return 0, corrupt.Errorf("superblock version %d (this code reads 1 to %d): %w", v, sbVersion, ErrVersion)
	}
	ps := binary.LittleEndian.Uint32(img[12:])
	if !validPageSize(int(ps)) {
		return 0, corrupt.Errorf("superblock page size %d is not a power of two in [%d, %d]: %w", ps, MinPageSize, MaxPageSize, ErrPageSize)
	}
	return int(ps), nil
}

// maxPages is the largest page count whose byte size fits in an int64.
func maxPages(pageSize int) uint64 { return uint64(1<<63-1) / uint64(pageSize) }

// ReadSuperblock reads and validates the superblock straight from a file,
// so a caller can learn the page size and file identity before it builds a
// page buffer. A file shorter than a superblock gives ErrTruncated.
func ReadSuperblock(r io.ReaderAt) (Superblock, error) {
	head := make([]byte, sbSize)
	if err := readAt(r, head); err != nil {
		return Superblock{}, err
	}
	ps, err := sbPrefix(head)
	if err != nil {
		return Superblock{}, err
	}
	img := make([]byte, ps)
	if err := readAt(r, img); err != nil {
		return Superblock{}, err
	}
	return DecodeSuperblock(img)
}

func readAt(r io.ReaderAt, p []byte) error {
	if err := vfs.ReadFull(r, p, 0); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return corrupt.Errorf("superblock: file shorter than %d bytes: %w", len(p), ErrTruncated)
		}
		return fmt.Errorf("read superblock: %w", err)
	}
	return nil
}
