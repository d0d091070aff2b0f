package chunkindex

import (
	"encoding/binary"
	"fmt"

	"github.com/cespare/xxhash/v2"

	"pwstore/internal/storage/corrupt"
)

// Frozen: block magics.
var (
	magicExtensibleRoot = [4]byte{'P', 'X', 'E', 'A'} // Frozen
	magicFixedRoot      = [4]byte{'P', 'X', 'F', 'A'} // Frozen
	magicSuper          = [4]byte{'P', 'X', 'S', 'P'} // Frozen
	magicData           = [4]byte{'P', 'X', 'D', 'P'} // Frozen
)

var le = binary.LittleEndian

// validate checks what every block has: its length, magic, version and
// checksum, in that order, each failure with its own sentinel. Only after
// it succeeds may a decoder read other fields.
func validate(b []byte, pageSize int, magic [4]byte, what string, page uint64) error {
	if len(b) != pageSize {
		return corrupt.Errorf("chunkindex: %s at page %d is %d bytes, want %d: %w", what, page, len(b), pageSize, ErrBounds)
	}
	if [4]byte(b[:4]) != magic {
		return corrupt.Errorf("chunkindex: %s at page %d: magic %q, want %q: %w", what, page, b[:4], magic[:], ErrMagic)
	}
	if b[4] != formatVersion {
		return corrupt.Errorf("chunkindex: %s at page %d: version %d, want %d: %w", what, page, b[4], formatVersion, ErrVersion)
	}
	end := pageSize - sumSize
	if got, want := le.Uint64(b[end:]), xxhash.Sum64(b[:end]); got != want {
		return corrupt.Errorf("chunkindex: %s at page %d: checksum %#x, computed %#x: %w", what, page, got, want, ErrChecksum)
	}
	if b[5]|b[6]|b[7] != 0 {
		return corrupt.Errorf("chunkindex: %s at page %d: reserved header bytes not zero: %w", what, page, ErrBounds)
	}
	return nil
}

// newBlock returns a zeroed page with magic and version set.
func newBlock(pageSize int, magic [4]byte) []byte {
	b := make([]byte, pageSize)
	copy(b, magic[:])
	b[4] = formatVersion
	return b
}

// seal writes the checksum; call it last, after every field is set.
func seal(b []byte) []byte {
	end := len(b) - sumSize
	le.PutUint64(b[end:], xxhash.Sum64(b[:end]))
	return b
}

// clone copies a page image read from the Store, which must not be changed.
func clone(b []byte) []byte {
	c := make([]byte, len(b))
	copy(c, b)
	return c
}

func boundsErr(what string, page uint64, format string, args ...any) error {
	return corrupt.Errorf("chunkindex: %s at page %d: %s: %w", what, page, fmt.Sprintf(format, args...), ErrBounds)
}

func mismatchErr(what string, page uint64, format string, args ...any) error {
	return corrupt.Errorf("chunkindex: %s at page %d: %s: %w", what, page, fmt.Sprintf(format, args...), ErrMismatch)
}

// zeroFrom checks that b[from:to] is all zero (padding and unused slots), so
// that one index state has exactly one byte image. It runs on every decode,
// hence eight bytes at a time.
func zeroFrom(b []byte, from, to int) bool {
	s := b[from:to]
	for len(s) >= 8 {
		if le.Uint64(s) != 0 {
			return false
		}
		s = s[8:]
	}
	for _, c := range s {
		if c != 0 {
			return false
		}
	}
	return true
}
