package coord

import (
	"errors"
	"fmt"
	"io"

	"pwstore/internal/storage/corrupt"
	"pwstore/mdfile"
	"pwstore/vfs"
)

// dataBackend reads and writes metadata pages straight in the data file: a
// writer's page buffer, and a reader of a file with no metadata file.
type dataBackend struct {
	f  vfs.File
	ps int64
}

func (b dataBackend) ReadPages(page uint64, p []byte) error {
	if err := vfs.ReadFull(b.f, p, int64(page)*b.ps); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return corrupt.Errorf("data file %s: page %d (%d bytes) beyond its end", b.f.Name(), page, len(p))
		}
		return fmt.Errorf("data file %s: read page %d: %w", b.f.Name(), page, err)
	}
	return nil
}

func (b dataBackend) WritePages(page uint64, p []byte) error {
	if _, err := b.f.WriteAt(p, int64(page)*b.ps); err != nil {
		return fmt.Errorf("data file %s: write page %d: %w", b.f.Name(), page, err)
	}
	return nil
}

// snapshotBackend serves a SWMR reader's page buffer: a page the adopted
// index lists comes from the metadata file (its checksum verified), any
// other from the data file. After every read it checks that the writer has
// not moved so far ahead that what it read may already be reused space.
type snapshotBackend struct {
	data dataBackend
	md   *mdfile.Reader
	idx  *index
	// lagCheck is called after each read; nil once the writer closed.
	lagCheck func() error
}

func (b *snapshotBackend) ReadPages(page uint64, p []byte) error {
	if e, ok := b.idx.find(page); ok {
		if e.Length != uint64(len(p)) {
			return corrupt.Errorf("metadata file: page %d is %d bytes in the index, %d asked for", page, e.Length, len(p))
		}
		if err := b.md.ReadImage(e, p); err != nil {
			// A reader that lags may find its image's space reused: a
			// checksum mismatch then means "fell behind", not corruption.
			if b.lagCheck != nil {
				if lerr := b.lagCheck(); lerr != nil {
					return lerr
				}
			}
			return fmt.Errorf("metadata file: image of page %d: %w", page, err)
		}
	} else if err := b.data.ReadPages(page, p); err != nil {
		return err
	}
	if b.lagCheck != nil {
		return b.lagCheck()
	}
	return nil
}

func (b *snapshotBackend) WritePages(page uint64, _ []byte) error {
	return fmt.Errorf("reader cannot write page %d", page)
}
