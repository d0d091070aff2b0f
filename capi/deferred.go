package main

/*
#define PWSTORE_NO_PROTOTYPES
#include <stdlib.h>
#include "pwstore.h"
#include "deferred.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"math/bits"
	"runtime"
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
	hi, n := bits.Mul64(uint64(typ.Size()), 1)
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

// perform executes f's deferred appends in order. The first that fails
// ends it: its error names it, and the ones after it are dropped.
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
	b := unsafe.Slice((*byte)(unsafe.Pointer(buf)), int(size))
	const head = int(unsafe.Sizeof(C.struct_pwc_entry{}))
	for i := 0; len(b) > 0; i++ {
		e := (*C.struct_pwc_entry)(unsafe.Pointer(&b[0]))
		var data []byte
		pad := 0
		if uint64(e.len) != C.PWC_NO_DATA {
			data = b[head : head+int(e.len)]
			pad = (int(e.len) + 7) &^ 7
		}
		b = b[head+pad:]
		if err := appendNow(int64(e.ds), uint64(e.n), data); err != nil {
			err = fmt.Errorf("deferred append %d of %d queued on file %d (dataset handle %d, %d rows): %w", i+1, n, int64(f.q.file), int64(e.ds), uint64(e.n), err)
			if n > i+1 {
				err = fmt.Errorf("%w; the %d queued after it were dropped", err, n-i-1)
			}
			return err
		}
	}
	return nil
}

// appendNow executes one deferred append.
func appendNow(h int64, rows uint64, data []byte) error {
	o, err := get(h)
	if err != nil {
		return err
	}
	d, ok := o.(*datasetObj)
	if !ok {
		return wrongKind(h, o, "a writer's dataset")
	}
	if err := checkOpen(d); err != nil {
		return err
	}
	return d.d.Append(rows, data)
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
