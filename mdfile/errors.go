package mdfile

import "errors"

// Sentinels for bad bytes. A decoder's error wraps exactly one of them and
// corrupt.Err as well, so callers can test either; an unknown format
// version is the one decoder error that is not corruption (ErrBadVersion).
var (
	// ErrBadMagic: the signature of a header, index root or index page is wrong.
	ErrBadMagic = errors.New("bad magic")
	// ErrBadChecksum: the stored xxhash64 does not match the bytes.
	ErrBadChecksum = errors.New("checksum mismatch")
	// ErrBadLength: the buffer is shorter or longer than the structure says.
	ErrBadLength = errors.New("bad length")
	// ErrBadBounds: an offset, length or count is out of range.
	ErrBadBounds = errors.New("offset or length out of bounds")
	// ErrBadField: a field holds a value the format does not allow.
	ErrBadField = errors.New("bad field value")
	// ErrUnsorted: index entries are not strictly increasing or overlap.
	ErrUnsorted = errors.New("index entries unsorted or overlapping")
	// ErrTickMismatch: an index's tick disagrees with the header naming it.
	ErrTickMismatch = errors.New("tick mismatch")
	// ErrImageChecksum: a page image does not match its index entry.
	ErrImageChecksum = errors.New("page image checksum mismatch")
)

// Errors that are not corruption.
var (
	// ErrBadVersion: the structure was written by a format version this
	// reader does not know (another release of pwstore): not corruption,
	// and no retry will help.
	ErrBadVersion = errors.New("mdfile: unknown format version")
	// ErrNotReady: the metadata file has no valid header yet (the writer is
	// just starting). Wait and try again.
	ErrNotReady = errors.New("mdfile: metadata file not ready")
	// ErrTickBackwards: the newest valid header names an older tick than a
	// snapshot this reader already adopted (the file was replaced).
	ErrTickBackwards = errors.New("mdfile: tick went backwards")
	// ErrWrongFile: the metadata file belongs to another data file, or its
	// page size changed under the reader.
	ErrWrongFile = errors.New("mdfile: metadata file does not match")
	// ErrTooFarBehind: a snapshot's tick is older than the oldest tick the
	// newest header lets a reader be on (max_lag - 1 ticks behind it, or
	// more within the writer's lag window in time); space it references
	// may be reused.
	ErrTooFarBehind = errors.New("mdfile: reader behind the oldest tick the writer keeps")
	// ErrNoSnapshot: no consistent snapshot could be loaded within the
	// retry budget.
	ErrNoSnapshot = errors.New("mdfile: no consistent snapshot")
	// ErrExists: Create found a file and was not told to take it over.
	ErrExists = errors.New("mdfile: metadata file exists")
	// ErrTickOrder: a writer call named a tick not above the last one.
	ErrTickOrder = errors.New("mdfile: tick not increasing")
	// ErrBadUpdate: the arguments of Update are inconsistent (bad image
	// length, duplicate page, overlapping entries, removal of a page that is
	// not in the index).
	ErrBadUpdate = errors.New("mdfile: bad update")
	// ErrClosed: the writer or reader is closed.
	ErrClosed = errors.New("mdfile: closed")
	// ErrChanged: the writer found its file changed by someone else: a
	// newer header than its own (recovery marked the file consumed, or
	// another writer took it over), its own header overwritten, or the
	// file cut shorter than it wrote it. The writer writes nothing more.
	ErrChanged = errors.New("mdfile: metadata file changed under its writer")
)
