package pfile

import "errors"

// Sentinels for bad bytes. Each error a decoder returns wraps corrupt.Err and
// one of these, so callers can tell "not our file" from "our file, damaged".
var (
	// ErrNotPWFile: the superblock magic is wrong, the file is not a pwstore
	// data file.
	ErrNotPWFile = errors.New("not a pwstore data file")
	// ErrMagic: a metadata object does not start with the magic its pointer
	// promised.
	ErrMagic = errors.New("bad object magic")
	// ErrVersion: a format version this code does not read.
	ErrVersion = errors.New("unsupported format version")
	// ErrChecksum: the stored xxhash64 does not match the bytes.
	ErrChecksum = errors.New("checksum mismatch")
	// ErrPageSize: the superblock's page size is invalid or differs from the
	// page size the caller uses.
	ErrPageSize = errors.New("page size mismatch")
	// ErrTruncated: the file ends before the superblock does.
	ErrTruncated = errors.New("file truncated")
)

// Usage errors.
var (
	// ErrNotFound: no dataset with that path.
	ErrNotFound = errors.New("dataset not found")
	// ErrExists: a dataset with that path exists already.
	ErrExists = errors.New("dataset exists")
	// ErrReadOnly: a change was asked of a file opened read-only.
	ErrReadOnly = errors.New("file is read-only")
	// ErrClosed: the file was closed.
	ErrClosed = errors.New("file is closed")
	// ErrBadSpec: a dataset spec, slab or attribute that cannot be stored.
	ErrBadSpec = errors.New("invalid argument")
)
