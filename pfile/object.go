package pfile

import (
	"encoding/binary"

	"github.com/cespare/xxhash/v2"

	"pwstore/internal/storage/corrupt"
	"pwstore/internal/storage/zerosum"
)

// Every metadata object other than the superblock is framed the same way
// (see the package doc): a 32-byte header, then the payload, padded with
// zeros to whole pages.
const (
	objHeaderSize = 32 // Frozen: object header length.
	objVersion    = 1  // Frozen: object format version, of every kind but dataset headers.
	// Frozen: dataset header versions. Version 1 holds the current shape;
	// version 2 points at its slot in an extent table instead; version 3 is
	// version 2 with chunk 0's address in place of a chunk index root.
	headerV1 = 1
	headerV2 = 2
	headerV3 = 3
)

// Frozen: object magics.
var (
	magicCatalog = [4]byte{'P', 'W', 'C', 'N'} // catalog B+tree node
	magicDataset = [4]byte{'P', 'W', 'D', 'H'} // dataset header
	magicFree    = [4]byte{'P', 'W', 'F', 'S'} // free-space list
	magicExtent  = [4]byte{'P', 'W', 'X', 'T'} // extent table
	magicBlock   = [4]byte{'P', 'W', 'H', 'B'} // header block
)

// objKind is what an object's frame says it is: magic and version.
type objKind struct {
	magic   [4]byte
	version uint16
}

// The kinds this code writes (headers: headerKind).
var (
	kindCatalog = objKind{magicCatalog, objVersion}
	kindFree    = objKind{magicFree, objVersion}
	kindExtent  = objKind{magicExtent, objVersion}
	kindBlock   = objKind{magicBlock, objVersion}
)

// maxVersion is the newest object version this code reads for a magic.
func maxVersion(magic [4]byte) uint16 {
	if magic == magicDataset {
		return headerV3
	}
	return objVersion
}

// pagesFor returns how many pages an object with a payload of n bytes needs.
func pagesFor(n, pageSize int) int {
	return (objHeaderSize + n + pageSize - 1) / pageSize
}

// seal frames payload as an object of the given magic living at page self,
// np pages long (at least pagesFor(len(payload))).
func seal(k objKind, self uint64, np int, payload []byte, pageSize int) []byte {
	img := make([]byte, np*pageSize)
	copy(img[0:4], k.magic[:])
	binary.LittleEndian.PutUint16(img[4:], k.version)
	binary.LittleEndian.PutUint32(img[8:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(img[12:], uint32(np))
	binary.LittleEndian.PutUint64(img[16:], self)
	copy(img[objHeaderSize:], payload)
	// objSum's value, without reading the zeros after the payload.
	used := objHeaderSize + len(payload)
	d := zerosum.New()
	d.Write(img[:24])
	d.Write(img[objHeaderSize:used])
	d.Zeros(len(img) - used)
	binary.LittleEndian.PutUint64(img[24:], d.Sum64())
	return img
}

// objSum is the checksum of a whole object image but its checksum field:
// the zero padding is covered too, so no flipped byte goes unnoticed.
func objSum(img []byte) uint64 {
	d := xxhash.New()
	d.Write(img[:24])
	d.Write(img[objHeaderSize:])
	return d.Sum64()
}

// unseal validates the framing of an object image read from page self and
// returns its payload (a sub-slice of img) and version. It checks, in
// order: length, magic, version (1 to maxVersion), checksum, then that the
// object says it lives where it was found and spans the pages it was read
// as.
func unseal(img []byte, magic [4]byte, self uint64, pageSize int) ([]byte, uint16, error) {
	if len(img) < objHeaderSize || len(img)%pageSize != 0 {
		return nil, 0, corrupt.Errorf("object %q at page %d: image of %d bytes", magic[:], self, len(img))
	}
	if [4]byte(img[0:4]) != magic {
		return nil, 0, corrupt.Errorf("object at page %d: magic %q, want %q: %w", self, img[0:4], magic[:], ErrMagic)
	}
	v := binary.LittleEndian.Uint16(img[4:])
	if v < 1 || v > maxVersion(magic) {
		return nil, 0, corrupt.Errorf("object %q at page %d: version %d (this code reads 1 to %d): %w", magic[:], self, v, maxVersion(magic), ErrVersion)
	}
	n := binary.LittleEndian.Uint32(img[8:])
	if uint64(n) > uint64(len(img)-objHeaderSize) {
		return nil, 0, corrupt.Errorf("object %q at page %d: payload length %d beyond its %d bytes", magic[:], self, n, len(img))
	}
	payload := img[objHeaderSize : objHeaderSize+int(n)]
	if sum := binary.LittleEndian.Uint64(img[24:]); sum != objSum(img) {
		return nil, 0, corrupt.Errorf("object %q at page %d: %w", magic[:], self, ErrChecksum)
	}
	if np := binary.LittleEndian.Uint32(img[12:]); int(np) != len(img)/pageSize {
		return nil, 0, corrupt.Errorf("object %q at page %d: spans %d pages, read as %d", magic[:], self, np, len(img)/pageSize)
	}
	if at := binary.LittleEndian.Uint64(img[16:]); at != self {
		return nil, 0, corrupt.Errorf("object %q read at page %d says it lives at page %d", magic[:], self, at)
	}
	return payload, v, nil
}
