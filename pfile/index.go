package pfile

import (
	"fmt"

	"pwstore/internal/storage/corrupt"
	"pwstore/pfile/chunkindex"
)

// Record is a chunk's place in the data file: byte offset and length.
type Record = chunkindex.Record

// chunkIndex is what a dataset needs of its chunk index (extensible array
// for an unlimited first dimension, fixed array otherwise).
type chunkIndex interface {
	Get(i uint64) (Record, error)
	Set(i uint64, r Record) error
	Len() uint64
	Root() uint64
}

// single is the chunk index of a dataset whose shape has never covered a
// chunk other than chunk 0 (header version 3): that chunk's address lives
// in the header and there are no index pages, so a dataset of one chunk
// costs its header and its chunk only. The first record of another chunk
// (Set, collective like every Set) makes the dataset's real index, moves
// chunk 0's record into it and rewrites the header to point at it.
type single struct{ ds *Dataset }

func (s *single) Get(i uint64) (Record, error) {
	h := s.ds.h
	if i != 0 || h.addr0 == 0 {
		return Record{}, nil
	}
	return Record{Addr: h.addr0, Size: h.chunkBytes()}, nil
}

// Set records chunk 0 in the header, or makes the real index for any
// other chunk; the dataset then uses that index (ds.idx), not s.
func (s *single) Set(i uint64, r Record) error {
	ds := s.ds
	h := ds.h
	if i == 0 && r.Size == h.chunkBytes() {
		h.addr0 = r.Addr
		return ds.rewriteHeader()
	}
	idx, err := ds.f.newIndex(h)
	if err != nil {
		return err
	}
	if h.addr0 != 0 {
		if err := idx.Set(0, Record{Addr: h.addr0, Size: h.chunkBytes()}); err != nil {
			return err
		}
	}
	if err := idx.Set(i, r); err != nil {
		return err
	}
	h.index, h.addr0, ds.idx = idx.Root(), 0, idx
	return ds.rewriteHeader()
}

func (s *single) Len() uint64 {
	if s.ds.h.addr0 == 0 {
		return 0
	}
	return 1
}

func (s *single) Root() uint64 { return 0 }

// newIndex makes the chunk index h's max shape calls for: an extensible
// array for an unlimited first dimension, else a fixed array.
func (f *File) newIndex(h *header) (chunkIndex, error) {
	var (
		idx chunkIndex
		err error
	)
	if h.extensible() {
		idx, err = createExtensible(indexStore{f})
	} else {
		idx, err = createFixed(indexStore{f}, h.fixedChunks())
	}
	if err != nil {
		return nil, fmt.Errorf("create chunk index: %w", err)
	}
	return idx, nil
}

func createExtensible(st indexStore) (chunkIndex, error) {
	x, err := chunkindex.NewExtensible(st)
	if err != nil {
		return nil, err
	}
	return x, nil
}

func createFixed(st indexStore, n uint64) (chunkIndex, error) {
	x, err := chunkindex.NewFixed(st, n)
	if err != nil {
		return nil, err
	}
	return x, nil
}

func openExtensible(st indexStore, root uint64) (chunkIndex, error) {
	x, err := chunkindex.OpenExtensible(st, root)
	if err != nil {
		return nil, err
	}
	return x, nil
}

func openFixed(st indexStore, root, n uint64) (chunkIndex, error) {
	x, err := chunkindex.OpenFixed(st, root, n)
	if err != nil {
		return nil, err
	}
	return x, nil
}

// indexStore gives a chunk index its pages: through the File's Pages and
// allocator, bounds-checked against the end of allocation.
type indexStore struct{ f *File }

func (s indexStore) Read(page uint64, npages int) ([]byte, error) {
	if eoa := s.f.eoa(); page < 1 || npages < 1 || page >= eoa || uint64(npages) > eoa-page {
		return nil, corrupt.Errorf("chunk index page %d+%d outside [1, %d)", page, npages, eoa)
	}
	return s.f.pages.Read(page, npages)
}

func (s indexStore) Write(page uint64, data []byte, fresh bool) error {
	if s.f.ro {
		return ErrReadOnly
	}
	if err := s.f.pages.Write(page, data, fresh); err != nil {
		return fmt.Errorf("write chunk index page %d: %w", page, err)
	}
	return nil
}

func (s indexStore) Alloc(npages int) (uint64, error) {
	if s.f.ro {
		return 0, ErrReadOnly
	}
	if npages < 1 {
		return 0, fmt.Errorf("allocate %d pages: %w", npages, ErrBadSpec)
	}
	if npages == 1 {
		return s.f.al.allocIndex(), nil
	}
	return s.f.al.alloc(uint64(npages)), nil
}

func (s indexStore) Release(page uint64, npages int) { s.f.freeMeta(page, npages) }

func (s indexStore) PageSize() int { return s.f.sb.PageSize }

// Owns: a writer's chunk index pages change only through its indexes.
func (s indexStore) Owns() bool { return !s.f.ro }
