package chunkindex

import "errors"

// Corruption sentinels. Every decoding error wraps corrupt.Err and exactly
// one of these, so callers can tell the failures apart.
var (
	// ErrMagic: the block does not start with the magic of its type.
	ErrMagic = errors.New("chunkindex: bad magic")
	// ErrVersion: the block's format version is not one this code reads.
	ErrVersion = errors.New("chunkindex: unsupported version")
	// ErrChecksum: the block's xxhash64 does not match its bytes.
	ErrChecksum = errors.New("chunkindex: bad checksum")
	// ErrBounds: a length, count or field is outside its allowed range, or
	// blocks of one index overlap.
	ErrBounds = errors.New("chunkindex: value out of bounds")
	// ErrMismatch: a valid block that is not the one the reader expected
	// (another index's block, wrong position, wrong page size or n).
	ErrMismatch = errors.New("chunkindex: block mismatch")
)

// Usage errors (not corruption).
var (
	// ErrRange: the index is past what the array can hold (Fixed: >= n).
	ErrRange = errors.New("chunkindex: index out of range")
	// ErrPageSize: the Store's page size is not a power of two in
	// [512 B, 1 MiB].
	ErrPageSize = errors.New("chunkindex: unsupported page size")
)
