package coord

import (
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"time"

	"pwstore/internal/storage/corrupt"
	"pwstore/mdfile"
	"pwstore/pfile"
	"pwstore/vfs"
)

// Fencing: a writer stopped (SIGSTOP, a frozen VM) for longer than
// WriterGone looks dead, and `pwriter recover` may recover its file. When
// it resumes it must not write another byte: rank 0 checks its files at
// every end of tick (and sync point) before anything is written, and every
// rank's data file checks them again before a write that follows a long
// silence (fencedFile). The check is on the metadata file's headers and
// path: recovery marks the file consumed (a newer header than the
// writer's) and removes it.

// checkFiles runs on rank 0: its files are as it left them. The metadata
// file is still at its path and holds this writer's last header and no
// newer one (mdfile's Check), and the data file is not shorter than at the
// last end of tick. mu held.
func (w *Writer) checkFiles() error {
	if err := w.pub.check(w.cfg.FS, w.cfg.MDPath); err != nil {
		if errors.Is(err, mdfile.ErrChanged) && !errors.Is(err, corrupt.Err) || errors.Is(err, errMDGone) {
			return fmt.Errorf("%s: %w: this writer stops without writing more: %w", w.path, err, ErrFenced)
		}
		return fmt.Errorf("%s: %w", w.path, err)
	}
	if err := w.checkSize(); err != nil {
		return err
	}
	w.fence.checked()
	return nil
}

// publishErr is the error of a publication in the metadata file (a tick,
// the finalising or closed mark) that failed. mdfile checks the file again
// before it writes; if it changed since checkFiles passed - the writer was
// stopped in between, and recovered or taken over meanwhile - checkFiles's
// answer says so and fences the writer off, where mdfile's would name
// neither. mu held.
func (w *Writer) publishErr(err error) error {
	if errors.Is(err, mdfile.ErrChanged) {
		if ferr := w.checkFiles(); errors.Is(ferr, ErrFenced) {
			return ferr
		}
	}
	return err
}

// checkSize fails when the data file is shorter than at the last end of
// tick: it never shrinks while its writer runs. mu held.
func (w *Writer) checkSize() error {
	return w.fence.checkSize(w.path)
}

// checkPublished runs on ranks other than 0, before a write after a long
// silence: the metadata file must still say that a writer of this file is
// open.
func (w *Writer) checkPublished(id [16]byte) error {
	h, err := mdfile.Newest(w.cfg.FS, w.cfg.MDPath)
	switch {
	case err != nil:
		return fmt.Errorf("%s: rank %d: metadata file %s: %w; this writer stops without writing more: %w", w.path, w.rank, w.cfg.MDPath, err, ErrFenced)
	case h.FileID != id || h.Status != mdfile.StatusOpen:
		return fmt.Errorf("%s: rank %d: metadata file %s now says %s (file %x): the file was recovered or taken over while this writer was stopped; this writer stops without writing more: %w",
			w.path, w.rank, w.cfg.MDPath, h.Status, h.FileID, ErrFenced)
	}
	return nil
}

// errMDGone: the metadata file is no longer at its path.
var errMDGone = errors.New("metadata file gone")

// check makes sure the metadata file is still at its path and as this
// writer left it.
func (p *publisher) check(fsys vfs.FS, path string) error {
	if _, err := fsys.Stat(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("its metadata file %s was removed while this writer ran (by `pwriter recover` while the writer was stopped, or by hand): %w", path, errMDGone)
		}
		return fmt.Errorf("metadata file %s: %w", path, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.md.Check()
}

// fencedFile is a writer's data file: a write or truncate that comes more
// than gap after the last check of the files checks them first, so a
// writer resumed after a recovery fails instead of writing into the
// recovered file. It also keeps a size the file cannot be below unless it
// was cut (on rank 0 its size at the last end of tick; on the other ranks
// the end of allocation that rank 0 grew it to before the last end of
// tick's barrier), and checks it before a write that reaches it: such a
// write would hide a cut from rank 0's check at the end of tick, which
// compares the sizes.
type fencedFile struct {
	vfs.File
	gap   time.Duration
	check func() error

	mu    sync.Mutex // guards last and grown
	last  time.Time  // when the files were last found intact (monotonic)
	grown int64      // the size the file cannot be below unless cut
}

func (f *fencedFile) WriteAt(p []byte, off int64) (int, error) {
	if err := f.recheck(); err != nil {
		return 0, err
	}
	// A write that reaches the floor would bring a file cut under the
	// writer back to that size, and rank 0's check at the end of tick would
	// pass over the cut (its bytes then read as zeros).
	if off+int64(len(p)) >= f.floor() {
		if err := f.checkSize(f.Name()); err != nil {
			return 0, err
		}
	}
	return f.File.WriteAt(p, off)
}

// Allocate reserves space as the wrapped file does, if it can
// (vfs.Allocator), after the same check as a write: a fenced writer
// touches nothing of the file.
func (f *fencedFile) Allocate(off, n int64) error {
	a, ok := f.File.(vfs.Allocator)
	if !ok {
		return errors.ErrUnsupported
	}
	if err := f.recheck(); err != nil {
		return err
	}
	return a.Allocate(off, n)
}

func (f *fencedFile) Truncate(size int64) error {
	if err := f.recheck(); err != nil {
		return err
	}
	if err := f.checkSize(f.Name()); err != nil {
		return err
	}
	return f.File.Truncate(size)
}

func (f *fencedFile) recheck() error {
	f.mu.Lock()
	stale := time.Since(f.last) > f.gap
	f.mu.Unlock()
	if !stale {
		return nil
	}
	if err := f.check(); err != nil {
		return err
	}
	f.checked()
	return nil
}

// checked records that the files were just found intact.
func (f *fencedFile) checked() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.last = time.Now()
}

func (f *fencedFile) floor() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.grown
}

// setGrown records a size the file has reached: at an end of tick, or
// when it was opened.
func (f *fencedFile) setGrown(size int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.grown = size
}

// checkSize fails when the file is shorter than at the last end of tick.
func (f *fencedFile) checkSize(path string) error {
	size, err := f.File.Size()
	if err != nil {
		return fmt.Errorf("%s: size: %w", path, err)
	}
	if grown := f.floor(); size < grown {
		return corrupt.Errorf("%s: the data file is %d bytes, it was %d at the last end of tick: it was cut short under the writer: %w",
			path, size, grown, pfile.ErrTruncated)
	}
	return nil
}
