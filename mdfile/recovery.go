package mdfile

import (
	"errors"
	"fmt"

	"go.uber.org/zap"

	"pwstore/vfs"
)

// Recovery is a metadata file opened after its writer died: the newest
// tick whose header, index and every page image verify. Recovery calls
// MarkFinalising, copies Snapshot's images into the data file
// (ReadImage), syncs it, then calls MarkConsumed.
type Recovery struct {
	Snapshot *Snapshot
	r        *Reader
	slot     int    // header slot written last: the snapshot's, then each mark's
	head     Header // the header in slot
}

// OpenForRecovery opens the metadata file at path read-write and finds the
// last valid snapshot: header slots newest first, the first whose index
// and all images verify wins. A file without any valid header is
// ErrNotReady (the writer never published: nothing to recover); one whose
// every header fails verification is ErrNoSnapshot.
func OpenForRecovery(fsys vfs.FS, path string, opts ReaderOptions) (*Recovery, error) {
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	f, err := fsys.OpenRW(path)
	if err != nil {
		return nil, fmt.Errorf("mdfile: open %s for recovery: %w", path, err)
	}
	r := &Reader{f: f, path: path, opts: opts, log: opts.Logger}
	rc, err := r.recover()
	if err != nil {
		f.Close()
		return nil, err
	}
	return rc, nil
}

func (r *Reader) recover() (*Recovery, error) {
	hs, err := r.readHeaders()
	if err != nil {
		return nil, err
	}
	var why error
	for _, c := range hs {
		snap, err := r.loadIndex(c.h)
		if err == nil {
			err = r.verifyImages(snap)
		}
		if err != nil {
			r.log.Warn("recovery skips a header", zap.Uint64("tick", c.h.Tick), zap.Error(err))
			why = errors.Join(why, fmt.Errorf("tick %d: %w", c.h.Tick, err))
			continue
		}
		r.cur = snap
		return &Recovery{Snapshot: snap, r: r, slot: c.slot, head: c.h}, nil
	}
	return nil, fmt.Errorf("%w in %s: %w", ErrNoSnapshot, r.path, why)
}

// verifyImages reads every image of snap and checks its checksum.
func (r *Reader) verifyImages(snap *Snapshot) error {
	var buf []byte
	for _, e := range snap.Entries() {
		if uint64(cap(buf)) < e.Length {
			buf = make([]byte, e.Length)
		}
		if err := r.ReadImage(e, buf[:e.Length]); err != nil {
			return err
		}
	}
	return nil
}

// ReadImage reads the image of e (an entry of Snapshot) into p.
func (rc *Recovery) ReadImage(e Entry, p []byte) error { return rc.r.ReadImage(e, p) }

// MarkFinalising publishes, in the other header slot, a tick after the
// recovered one with the same index and status finalising: a reader still
// on an older tick that loads a page recovery is about to write sees the
// mark and moves to this tick, as when a writer closes (see the package
// doc). Call it before writing the images into the data file; a file
// already finalising needs no second mark.
func (rc *Recovery) MarkFinalising() error {
	if rc.head.Status == StatusFinalising {
		return nil
	}
	h := rc.head
	h.Status = StatusFinalising
	h.Tick++
	if err := rc.mark(h); err != nil {
		return fmt.Errorf("mdfile: mark %s finalising: %w", rc.r.path, err)
	}
	return nil
}

// MarkConsumed publishes, in the other header slot, a tick after the
// recovered one (or its finalising mark) with status consumed and an
// empty index: the data file now holds everything. Call it after the data
// file is synced.
func (rc *Recovery) MarkConsumed() error {
	h := rc.head
	h.Status = StatusConsumed
	h.Tick++
	h.RootOffset, h.RootLength, h.RootChecksum, h.Entries = 0, 0, 0, 0
	if err := rc.mark(h); err != nil {
		return fmt.Errorf("mdfile: mark %s consumed: %w", rc.r.path, err)
	}
	if err := rc.r.f.Sync(); err != nil {
		return fmt.Errorf("mdfile: mark %s consumed: %w", rc.r.path, err)
	}
	return nil
}

// mark writes h into the slot not written last and makes it the header
// the next mark follows.
func (rc *Recovery) mark(h Header) error {
	var b [HeaderSize]byte
	h.Encode(b[:])
	slot := (rc.slot + 1) % headerSlots
	if _, err := rc.r.f.WriteAt(b[:], int64(slot*slotStride)); err != nil {
		return err
	}
	rc.slot, rc.head = slot, h
	return nil
}

// Close closes the file.
func (rc *Recovery) Close() error { return rc.r.Close() }
