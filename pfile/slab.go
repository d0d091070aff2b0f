package pfile

import (
	"errors"
	"fmt"
	"io"
	"math/bits"

	"pwstore/internal/storage/corrupt"
)

// A slab is a box of a dataset: start and count per dimension; its data is
// row-major, little-endian elements of the dataset's type.

// WriteSlab writes the elements of the box (start, count) from data. It is
// independent (not collective): it changes no metadata. The bytes go to
// this rank's chunk cache (written back by FlushRaw, Close, or when the
// cache is full), or straight to the file for chunks too big to cache.
func (ds *Dataset) WriteSlab(start, count []uint64, data []byte) error {
	f := ds.f
	if err := f.writable(); err != nil {
		return err
	}
	return ds.slab(start, count, data, func(r Record, runs []run, p []byte) error {
		for _, u := range runs {
			if err := f.cache.write(f.raw, r, u.chunk, p[u.slab:u.slab+u.n]); err != nil {
				return fmt.Errorf("write slab of %q: %w", ds.path, err)
			}
		}
		return nil
	})
}

// ReadSlab reads the elements of the box (start, count) into buf.
// Elements never written read as zero. A writer sees its own unflushed
// writes.
func (ds *Dataset) ReadSlab(start, count []uint64, buf []byte) error {
	if err := ds.ready(); err != nil {
		return err
	}
	f := ds.f
	var tmp []byte
	return ds.slab(start, count, buf, func(r Record, runs []run, p []byte) error {
		// Read the chunk's bytes from the first run to the end of the last.
		lo, hi := runs[0].chunk, runs[len(runs)-1].chunk+runs[len(runs)-1].n
		if uint64(cap(tmp)) < hi-lo {
			tmp = make([]byte, hi-lo)
		}
		t := tmp[:hi-lo]
		n, err := f.raw.ReadAt(t, int64(r.Addr+lo))
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read slab of %q: chunk at byte %d: %w", ds.path, r.Addr, err)
		}
		if n < len(t) && f.ro {
			// Allocated space is all in the file (see checkSize): the
			// file was cut short since it was opened.
			return corrupt.Errorf("read slab of %q: chunk at byte %d: file %s ends at byte %d, inside allocated space: %w",
				ds.path, r.Addr, f.raw.Name(), r.Addr+lo+uint64(n), ErrTruncated)
		}
		// A writer's chunk past the end of the file was never written
		// back: its bytes are in the cache or were never written.
		clear(t[n:])
		if !f.ro {
			f.cache.overlay(r.Addr, lo, t)
		}
		for _, u := range runs {
			copy(p[u.slab:u.slab+u.n], t[u.chunk-lo:u.chunk-lo+u.n])
		}
		return nil
	})
}

// run is n contiguous bytes at offset slab of the slab's data and offset
// chunk of the chunk.
type run struct{ slab, chunk, n uint64 }

// slab checks a box against the shape and calls do for each chunk it
// touches, in row-major chunk order, with the runs of bytes to move. It
// allocates nothing once ds.runs has grown to the box's needs: the
// per-dimension values live on the stack (rank <= MaxRank), and errors
// format copies of start, count and the chunk coordinates so that these
// do not escape.
func (ds *Dataset) slab(start, count []uint64, data []byte, do func(r Record, runs []run, p []byte) error) error {
	h := ds.h
	r := len(h.shape)
	if len(start) != r || len(count) != r {
		return fmt.Errorf("slab of %q: rank %d/%d, dataset has %d: %w", ds.path, len(start), len(count), r, ErrBadSpec)
	}
	es := uint64(h.typ.Size())
	total := es
	for i := range start {
		if count[i] > h.shape[i] || start[i] > h.shape[i]-count[i] {
			return fmt.Errorf("slab of %q: start %v count %v beyond shape %v: %w", ds.path, clip(start), clip(count), h.shape, ErrBadSpec)
		}
		var hi uint64
		hi, total = bits.Mul64(total, count[i])
		if hi != 0 {
			return fmt.Errorf("slab of %q: count %v too large: %w", ds.path, clip(count), ErrBadSpec)
		}
	}
	if uint64(len(data)) != total {
		return fmt.Errorf("slab of %q: %d bytes for count %v of %v, want %d: %w", ds.path, len(data), clip(count), h.typ, total, ErrBadSpec)
	}
	if total == 0 {
		return nil
	}
	idx, err := ds.index()
	if err != nil {
		return err
	}
	var b [7][MaxRank]uint64
	// Chunk coordinate ranges [first, last] per dimension.
	first, last := b[0][:r], b[1][:r]
	for i := range start {
		first[i], last[i] = start[i]/h.chunk[i], (start[i]+count[i]-1)/h.chunk[i]
	}
	// Byte strides of the slab and of a chunk.
	slabStride, chunkStride := b[2][:r], b[3][:r]
	slabStride[r-1], chunkStride[r-1] = es, es
	for i := r - 2; i >= 0; i-- {
		slabStride[i] = slabStride[i+1] * count[i+1]
		chunkStride[i] = chunkStride[i+1] * h.chunk[i+1]
	}
	size := h.chunkBytes()
	c := b[4][:r]
	copy(c, first)
	lo, hi := b[5][:r], b[6][:r]
	for {
		rec, err := ds.record(idx, h.linear(c))
		if err != nil {
			return fmt.Errorf("dataset %q: chunk %v: %w", ds.path, clip(c), err)
		}
		if err := ds.checkRecord(rec, size, c); err != nil {
			return err
		}
		// The box inside this chunk, in dataset coordinates [lo, hi).
		for i := range c {
			lo[i] = max(start[i], c[i]*h.chunk[i])
			hi[i] = min(start[i]+count[i], (c[i]+1)*h.chunk[i])
		}
		ds.runs = boxRuns(ds.runs[:0], lo, hi, start, c, h.chunk, slabStride, chunkStride)
		if err := do(rec, ds.runs, data); err != nil {
			return err
		}
		// Next chunk, row-major.
		i := r - 1
		for ; i >= 0; i-- {
			if c[i]++; c[i] <= last[i] {
				break
			}
			c[i] = first[i]
		}
		if i < 0 {
			return nil
		}
	}
}

// record is chunk lin's record: a writer's last one if it is that chunk's
// (a writer's records never change once set), else the index's.
func (ds *Dataset) record(idx chunkIndex, lin uint64) (Record, error) {
	if ds.last.Size != 0 && ds.lastC == lin {
		return ds.last, nil
	}
	rec, err := idx.Get(lin)
	if err == nil && !ds.f.ro && rec.Size != 0 {
		ds.last, ds.lastC = rec, lin
	}
	return rec, err
}

// boxRuns lists the runs of the box [lo, hi) (one per position of every
// dimension but the last, merged where contiguous), with slab offsets relative to start and chunk
// offsets relative to the chunk c.
func boxRuns(runs []run, lo, hi, start, c, chunk, slabStride, chunkStride []uint64) []run {
	r := len(lo)
	var xb [MaxRank]uint64
	x := append(xb[:0], lo...)
	n := (hi[r-1] - lo[r-1]) * slabStride[r-1]
	for {
		var so, co uint64
		for i := range x {
			so += (x[i] - start[i]) * slabStride[i]
			co += (x[i] - c[i]*chunk[i]) * chunkStride[i]
		}
		if k := len(runs) - 1; k >= 0 && runs[k].slab+runs[k].n == so && runs[k].chunk+runs[k].n == co {
			runs[k].n += n // contiguous in both: one run
		} else {
			runs = append(runs, run{so, co, n})
		}
		i := r - 2
		for ; i >= 0; i-- {
			if x[i]++; x[i] < hi[i] {
				break
			}
			x[i] = lo[i]
		}
		if i < 0 {
			return runs
		}
	}
}

// checkRecord checks a chunk record before raw I/O trusts it: every chunk
// of the shape has space (given when the shape grew), of the chunk's size,
// inside the end of allocation and not in the superblock's page.
func (ds *Dataset) checkRecord(rec Record, size uint64, c []uint64) error {
	f := ds.f
	end := f.eoa() * uint64(f.sb.PageSize)
	if rec.Addr < uint64(f.sb.PageSize) || rec.Size != size || rec.Addr > end || rec.Size > end-rec.Addr {
		return corrupt.Errorf("dataset %q: chunk %v record {addr %d, size %d}: want size %d inside [%d, %d)",
			ds.path, clip(c), rec.Addr, rec.Size, size, f.sb.PageSize, end)
	}
	return nil
}
