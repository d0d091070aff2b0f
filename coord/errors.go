package coord

import (
	"errors"

	"pwstore/collective"
	"pwstore/internal/storage/corrupt"
	"pwstore/mdfile"
	"pwstore/pfile"
)

// The errors an application tests with errors.Is. Every error the API
// returns that means one of them wraps it, with context in its text, on
// every rank: errors rank 0 decided for all ranks (at Create, Open,
// OpenReader and a collective reader's Tick) carry the identity of their
// sentinels to the other ranks.
var (
	// ErrCorrupt marks bad bytes: a checksum, magic, version or bound that
	// does not hold, a file that is not pwstore's, a short read of
	// allocated space. Every error coord returns for bad bytes wraps it
	// (see IsCorrupt).
	ErrCorrupt = errors.New("corrupt data")
	// ErrExists: what was to be created already exists: the data file or
	// its metadata file (Create), or a dataset at that path
	// (CreateDataset).
	ErrExists = errors.New("exists")
	// ErrNotFound: no dataset at that path.
	ErrNotFound = errors.New("dataset not found")
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
	// ErrClosed: the writer, the reader or its communicator was closed.
	ErrClosed = errors.New("closed")
	// ErrConfig is wrapped by every configuration error.
	ErrConfig = errors.New("invalid configuration")
	// ErrInvalid: a dataset path, spec, slab or attribute that cannot be
	// stored or does not fit the dataset.
	ErrInvalid = errors.New("invalid argument")

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

// lowerErrors maps the sentinels of the packages under coord to coord's
// own, which every error coord returns wraps beside them (see public).
var lowerErrors = []struct{ lower, own error }{
	{corrupt.Err, ErrCorrupt},
	{pfile.ErrExists, ErrExists},
	{mdfile.ErrExists, ErrExists},
	{pfile.ErrNotFound, ErrNotFound},
	{pfile.ErrClosed, ErrClosed},
	{mdfile.ErrClosed, ErrClosed},
	{collective.ErrClosed, ErrClosed},
	{pfile.ErrBadSpec, ErrInvalid},
	{mdfile.ErrTooFarBehind, ErrLagging},
	{mdfile.ErrWrongFile, ErrWrongFile},
	{mdfile.ErrNotReady, ErrNotReady},
}

// public makes err, returned by a call of coord's API, wrap coord's
// sentinel for every lower-level sentinel it wraps. Its text is unchanged.
func public(err error) error {
	if err == nil {
		return nil
	}
	var add []error
	for _, m := range lowerErrors {
		if errors.Is(err, m.lower) && !errors.Is(err, m.own) {
			add = append(add, m.own)
		}
	}
	if add == nil {
		return err
	}
	return &kindError{text: err.Error(), wraps: append([]error{err}, add...)}
}

// kindError is an error with its text and the errors it wraps given apart:
// a lower-level error given coord's sentinels, or an error decided on
// another rank rebuilt with its sentinels.
type kindError struct {
	text  string
	wraps []error
}

func (e *kindError) Error() string   { return e.text }
func (e *kindError) Unwrap() []error { return e.wraps }

// wireSentinels are the errors whose identity travels between ranks, each
// as one bit of a code: index i is bit 1<<i. Append only: ranks of one job
// run one binary, but the order is the meaning of the bits.
var wireSentinels = []error{
	ErrCorrupt, ErrExists, ErrNotFound, ErrLagging, ErrWriterGone, ErrWriterAlive,
	ErrDiverged, ErrTimeout, ErrClosed, ErrConfig, ErrInvalid, ErrNeedsRecovery,
	ErrWrongFile, ErrNotReady, mdfile.ErrTickBackwards, mdfile.ErrNoSnapshot,
	ErrFenced,
}

// errCode is the set of wireSentinels that err wraps (after public).
func errCode(err error) uint64 {
	err = public(err)
	var code uint64
	for i, s := range wireSentinels {
		if errors.Is(err, s) {
			code |= 1 << i
		}
	}
	return code
}

// remoteError rebuilds on this rank an error another rank decided: its
// text, wrapping the sentinels its code names.
func remoteError(text string, code uint64) error {
	var wraps []error
	for i, s := range wireSentinels {
		if code&(1<<i) != 0 {
			wraps = append(wraps, s)
		}
	}
	return &kindError{text: text, wraps: wraps}
}

// ErrFenced: a writer found that its file was recovered (or its metadata
// file removed or taken over) while it was stopped; it wrote nothing more.
var ErrFenced = errors.New("writer fenced off its file")
