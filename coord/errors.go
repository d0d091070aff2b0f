package coord

import (
	"errors"

	"pwstore/collective"
	"pwstore/internal/storage/corrupt"
	"pwstore/pfile"
)

// The errors an application tests with errors.Is. Every error the API returns
// wraps at most one of them, with context in its text.
var (
	// ErrCorrupt marks bad bytes: a checksum, magic, version or bound that
	// does not hold, a file that is not pwstore's, a short read of
	// allocated space. Every decoder's error wraps it (see IsCorrupt).
	ErrCorrupt = corrupt.Err
	// ErrExists: the data file or its metadata file already exists.
	ErrExists = errors.New("file exists")
	// ErrNotFound: no dataset at that path.
	ErrNotFound = pfile.ErrNotFound
	// ErrLagging: the reader fell more than max_lag - 1 ticks behind the
	// writer; what it would read next may already be reused space.
	ErrLagging = errors.New("reader fell behind the writer")
	// ErrWriterGone: the writer's heartbeat stopped.
	ErrWriterGone = errors.New("writer gone")
	// ErrWriterAlive: Recover found the writer still publishing.
	ErrWriterAlive = errors.New("writer still running")
	// ErrDiverged: at a sync point the ranks' streams of metadata calls
	// differed; the error names the ranks and the calls.
	ErrDiverged = errors.New("metadata streams diverged")
	// ErrTimeout: a collective call did not complete within the
	// communicator's timeout (a rank died or drifted too far).
	ErrTimeout = collective.ErrTimeout
	// ErrClosed: the writer or reader was closed.
	ErrClosed = errors.New("closed")
	// ErrConfig is wrapped by every configuration error.
	ErrConfig = errors.New("invalid configuration")

	// ErrNeedsRecovery: the metadata file says a writer is open, but none
	// is running: the file must be recovered before it is written again.
	ErrNeedsRecovery = errors.New("file needs recovery")
	// ErrWrongFile: the metadata file belongs to another data file.
	ErrWrongFile = errors.New("metadata file belongs to another data file")
	// ErrNotReady: neither the file nor a first tick of its writer appeared
	// within the open wait.
	ErrNotReady = errors.New("file not ready")
)

// IsCorrupt reports whether err says that bytes on disk or on the wire are
// bad (errors.Is(err, ErrCorrupt)).
func IsCorrupt(err error) bool { return errors.Is(err, ErrCorrupt) }
