package main

/*
#define PWSTORE_NO_PROTOTYPES
#include <stdlib.h>
#include "pwstore.h"
#include "deferred.h"
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"runtime"
	"slices"
	"sync/atomic"
	"unsafe"

	"pwstore/coord"
)

// Deferred appends (pw_dataset_append_deferred, in deferred.c) wait in a
// queue of their file, in C memory, until perform executes them: before
// any call on the file or one of its datasets (lookup), at pw_close, and
// at pw_perform_appends.

// newQueue gives f its queue, freed once f is unreachable and its handles
// are closed.
func newQueue(f *fileObj) error {
	q := C.pwc_queue_new()
	if q == nil {
		return errors.New("deferred appends' queue: out of memory")
	}
	f.q = q
	runtime.AddCleanup(f, func(q *C.struct_pwc_queue) { C.pwc_release(q) }, q)
	return nil
}

// register enters handle h of f (a file) or of one of its datasets (rows
// of row bytes) in deferred.c's table.
func register(h int64, f *fileObj, row uint64, isFile bool) error {
	isf := C.int(0)
	if isFile {
		isf = 1
	}
	if C.pwc_add(C.int64_t(h), f.q, C.uint64_t(row), isf) != 0 {
		return errors.New("deferred appends' table: out of memory")
	}
	return nil
}

// rowBytes is the bytes of one row of typ and inner shape (all ones past a
// uint64).
func rowBytes(typ coord.Type, inner []uint64) uint64 {
	var hi uint64
	n := uint64(typ.Size())
	for _, x := range inner {
		var h uint64
		h, n = bits.Mul64(n, x)
		hi |= h
	}
	if hi != 0 {
		return ^uint64(0)
	}
	return n
}

// performFor executes the queue of o's file if o is a writer's file or
// dataset.
func performFor(o any) error {
	switch o := o.(type) {
	case *fileObj:
		return o.perform()
	case *datasetObj:
		return o.file.perform()
	}
	return nil
}

// entryAt decodes the entry of a queue at offset off of b (deferred.h's
// pwc_entry and its rows): its dataset handle, rows and data (nil: extend
// only), and the offset of the next entry. Results in registers, not a
// struct: this runs once per deferred append.
func entryAt(b []byte, off int) (ds int64, rows uint64, data []byte, next int) {
	const head = int(unsafe.Sizeof(C.struct_pwc_entry{}))
	e := (*C.struct_pwc_entry)(unsafe.Pointer(&b[off]))
	ds, rows, n := int64(e.ds), uint64(e.n), uint64(e.len)
	next = off + head
	if n != C.PWC_NO_DATA {
		data = b[next : next+int(n) : next+int(n)]
		next += (int(n) + 7) &^ 7
	}
	return ds, rows, data, next
}

// writerDatasetOf is the writer's dataset of a queued append's handle:
// writerDataset without executing the queue (it is executing) or the
// check of the file, which perform makes once.
func writerDatasetOf(h int64) (*datasetObj, error) {
	o, err := get(h)
	if err != nil {
		return nil, err
	}
	d, ok := o.(*datasetObj)
	if !ok {
		return nil, wrongKind(h, o, "a writer's dataset")
	}
	return d, nil
}

// keepBatch is the most entries of a batch a file keeps for its next
// execution (40 bytes each): a code that once queued millions of appends
// does not hold their batch for good.
const keepBatch = 1 << 16

// perform executes f's deferred appends in order, in one coord.AppendAll
// (one acquisition of the writer's lock). The first that fails ends it:
// its error names it, and the ones after it are dropped.
func (f *fileObj) perform() error {
	// An atomic load from Go, not a call into C: the calls that find
	// nothing queued pay a load, not a crossing.
	if atomic.LoadInt32((*int32)(unsafe.Pointer(&f.q.pending))) == 0 {
		return nil
	}
	f.run.Lock()
	defer f.run.Unlock()
	var buf *C.uchar
	var size C.size_t
	n := int(C.pwc_take(f.q, &buf, &size))
	if buf == nil {
		return nil // another thread executed them
	}
	defer C.free(unsafe.Pointer(buf))
	all := unsafe.Slice((*byte)(unsafe.Pointer(buf)), int(size))
	// Resolve the handles up to the first that fails, make those appends,
	// then report that one's error (or the first append's that failed).
	batch := slices.Grow(f.batch[:0], n)
	var stop error
	for off := 0; off < len(all); {
		ds, rows, data, next := entryAt(all, off)
		off = next
		d, err := writerDatasetOf(ds)
		if err == nil && len(batch) == 0 {
			// Every entry's file is f: checked once. A close meanwhile
			// comes before or after the batch (the writer's lock), and
			// before it the batch fails as closed.
			err = checkOpen(d)
		}
		if err != nil {
			stop = err
			break
		}
		// Field by field: an append of a composite literal builds it on
		// the stack and copies it, a stall for each of a thousand entries.
		j := len(batch)
		batch = batch[:j+1]
		batch[j].Dataset, batch[j].Rows, batch[j].Data = d.d, rows, data
	}
	var i int // the failing entry: the one after the appends made
	var err error
	if len(batch) > 0 {
		i, err = f.w.AppendAll(context.Background(), batch)
		clear(batch) // no pointers into the freed queue or to closed datasets stay
		if cap(batch) <= keepBatch {
			f.batch = batch[:0]
		}
	}
	if err == nil {
		if err = stop; err == nil {
			return nil
		}
	}
	var ds int64
	var rows uint64
	for off, j := 0, 0; j <= i; j++ {
		ds, rows, _, off = entryAt(all, off)
	}
	err = fmt.Errorf("deferred append %d of %d queued on file %d (dataset handle %d, %d rows): %w", i+1, n, int64(f.q.file), ds, rows, err)
	if n > i+1 {
		err = fmt.Errorf("%w; the %d queued after it were dropped", err, n-i-1)
	}
	return err
}

//export pwc_deferred_refused
func pwc_deferred_refused(ds C.pw_handle) (rc C.int) {
	defer guard(&rc)
	if _, err := writerDataset(ds); err != nil {
		return fail(fmt.Errorf("pw_dataset_append_deferred: %w", err))
	}
	return fail(fmt.Errorf("pw_dataset_append_deferred: dataset %d has no queue: %w", ds, errBadHandle))
}

//export pw_perform_appends
func pw_perform_appends(file C.pw_handle) (rc C.int) {
	defer guard(&rc)
	_, err := fileOf(int64(file)) // performs them
	return status(err)
}
