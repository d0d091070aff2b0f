package main

/*
#define PWSTORE_NO_PROTOTYPES
#include <stdlib.h>
#include "pwstore.h"
#include "queue.h"
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

// The calls that change a writer's dataset - pw_dataset_append,
// pw_dataset_extend, pw_dataset_write of a small box, and deferred appends
// - are checked and queued in C (queue.c), in a queue of their file. They
// wait there until perform executes them: before any other call on the
// file or one of its datasets (lookup), at pw_close, at
// pw_perform_appends, when the writer's timer is about to end a tick
// (coord.Config.OnTimer), and when the queue passes PWC_BOUND bytes.

// newQueue gives f its queue, freed once f is unreachable and its handles
// are closed.
func newQueue(f *fileObj) error {
	q := C.pwc_queue_new()
	if q == nil {
		return errors.New("queue of calls: out of memory")
	}
	f.q = q
	runtime.AddCleanup(f, func(q *C.struct_pwc_queue) { C.pwc_release(q) }, q)
	return nil
}

// register enters handle h of f (a file, cd nil) or of one of its
// datasets (its mirror cd) in queue.c's table.
func register(h int64, f *fileObj, cd *C.struct_pwc_dset) error {
	if C.pwc_add(C.int64_t(h), f.q, cd) != 0 {
		return errors.New("queue's table of handles: out of memory")
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

// Bounds of the shapes queued calls may reach: pfile refuses a shape of
// more than 2^32 chunks, or of more bytes than a file can address (2^63
// for all datasets together), when it executes the call. Past the bounds
// the call goes through Go at once and gets those errors there.
const (
	fastChunks = 1 << 32
	fastBytes  = 1 << 47
)

// fast0 is the largest first dimension spec's dataset may reach through
// queued calls: its max shape's, unless its chunks would pass fastChunks
// or fastBytes before.
func fast0(spec coord.Spec) uint64 {
	inner, bytes := uint64(1), uint64(spec.Type.Size())
	for i, c := range spec.Chunk {
		bytes *= c // at most pfile.MaxChunkBytes, 2^31
		if i > 0 {
			inner *= (spec.Shape[i] + c - 1) / c
		}
	}
	m0 := spec.MaxShape[0]
	if inner == 0 || bytes == 0 {
		return m0 // no chunks whatever the first dimension
	}
	n := min(fastChunks, fastBytes/bytes) / inner // chunks along the first dimension
	hi, lo := bits.Mul64(n, spec.Chunk[0])
	if hi != 0 || lo > m0 {
		return m0
	}
	return lo
}

// mirror returns the mirror of dataset d of f, made from its spec (the
// current shape; no call of it is queued) for its first handle: every
// handle of a dataset shares one.
func (f *fileObj) mirror(d *coord.Dataset, spec coord.Spec) (*C.struct_pwc_dset, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	path := d.Path()
	if cd := f.mirrors[path]; cd != nil {
		return cd, nil
	}
	n := len(spec.Shape)
	var shape, max [C.PW_MAX_DIMS]C.uint64_t
	for i := range n {
		shape[i], max[i] = C.uint64_t(spec.Shape[i]), C.uint64_t(spec.MaxShape[i])
	}
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	cd := C.pwc_dset_new(f.q, C.int32_t(len(f.sets)), C.int(n), C.uint64_t(spec.Type.Size()),
		C.uint64_t(rowBytes(spec.Type, spec.Shape[1:])), C.uint64_t(fast0(spec)), &shape[0], &max[0], cpath, C.size_t(len(path)))
	if cd == nil {
		return nil, errors.New("queue's mirror of a dataset: out of memory")
	}
	if f.mirrors == nil {
		f.mirrors = map[string]*C.struct_pwc_dset{}
	}
	f.mirrors[path] = cd
	f.sets = append(f.sets, dsetRef{d, cd})
	return cd, nil
}

// resync sets every mirror of f from its dataset (and the calls still
// queued): after calls the mirrors counted failed. f.run held.
func (f *fileObj) resync() {
	f.mu.Lock()
	sets := f.sets
	f.mu.Unlock()
	for _, s := range sets {
		f.reset(s.d, s.cd)
	}
}

// reset sets mirror cd from dataset d's shape (and the calls still
// queued). f.run held.
func (f *fileObj) reset(d *coord.Dataset, cd *C.struct_pwc_dset) {
	if shape, err := d.Shape(); err == nil { // else the writer failed: nothing will execute
		C.pwc_reset(f.q, cd, (*C.uint64_t)(unsafe.Pointer(&shape[0])))
	}
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

// entryAt returns the entry of a queue at offset off of b (queue.h's
// pwc_entry), its payload - a write's start and count, one after the
// other, and its data (nil: none) - and the offset of the next entry.
// Results in registers: this runs once per queued call.
func entryAt(b []byte, off int) (e *C.struct_pwc_entry, box []uint64, data []byte, next int) {
	const head = int(unsafe.Sizeof(C.struct_pwc_entry{}))
	e = (*C.struct_pwc_entry)(unsafe.Pointer(&b[off]))
	next = off + head
	if e.kind == C.PWC_WRITE {
		box = unsafe.Slice((*uint64)(unsafe.Pointer(&b[next])), 2*int(e.n))
		next += 16 * int(e.n)
	}
	if n := uint64(e.len); n != C.PWC_NO_DATA {
		data = b[next : next+int(n) : next+int(n)]
		next += (int(n) + 7) &^ 7
	}
	return e, box, data, next
}

// kinds maps an entry's kind to coord's.
var kinds = [...]coord.OpKind{C.PWC_APPEND: coord.OpAppend, C.PWC_EXTEND: coord.OpExtend,
	C.PWC_WRITE: coord.OpWrite, C.PWC_DEFERRED: coord.OpAppend}

// describe names a queued call in errors, and says what it was.
func describe(e *C.struct_pwc_entry, box []uint64) (string, string) {
	h, n := int64(e.ds), uint64(e.n)
	switch e.kind {
	case C.PWC_EXTEND:
		return "extend", fmt.Sprintf("dataset handle %d, to %d rows", h, n)
	case C.PWC_WRITE:
		return "write", fmt.Sprintf("dataset handle %d, start %v count %v", h, box[:n], box[n:])
	case C.PWC_DEFERRED:
		return "deferred append", fmt.Sprintf("dataset handle %d, %d rows", h, n)
	}
	return "append", fmt.Sprintf("dataset handle %d, %d rows", h, n)
}

// keepBatch is the most calls of a batch a file keeps for its next
// execution (96 bytes each): a code that once queued millions of calls
// does not hold their batch for good.
const keepBatch = 1 << 16

// pending says whether f's queue holds calls (or an error of the timer's
// execution): an atomic load from Go, not a call into C, so that the calls
// that find nothing queued pay a load, not a crossing.
func (f *fileObj) pending() bool {
	return atomic.LoadInt32((*int32)(unsafe.Pointer(&f.q.pending))) != 0
}

// perform executes f's queue.
func (f *fileObj) perform() error {
	if !f.pending() {
		return nil
	}
	f.run.Lock()
	defer f.run.Unlock()
	return f.performLocked(true)
}

// onTimer executes f's queue before the writer's timer ends a tick; an
// error is kept for the next call that executes the queue. On the timer's
// goroutine, which must not wait long (it keeps the heartbeat): a thread
// that holds run is executing the queue or making a call through Go, and
// what it leaves queued waits for the timer's next round.
func (f *fileObj) onTimer() {
	if !f.pending() || !f.run.TryLock() {
		return
	}
	defer f.run.Unlock()
	if f.late != nil {
		return // not returned yet: the queue waits for the call that returns it
	}
	if err := f.performLocked(false); err != nil {
		f.late = err
		// Makes the next call look (pwc_take clears it).
		atomic.StoreInt32((*int32)(unsafe.Pointer(&f.q.pending)), 1)
	}
}

// performLocked executes f's queue in order, in one coord.Writer.Apply
// (one acquisition of the writer's lock). The first call that fails ends
// it: its error names it, and the ones after it are dropped. An error the
// timer's execution found is returned first, the queue then left for the
// next call. Unless wait, it does nothing when queue.c's lock is not free
// at once. f.run held.
func (f *fileObj) performLocked(wait bool) error {
	if err := f.late; err != nil {
		f.late = nil
		return err
	}
	var buf *C.uchar
	var size C.size_t
	w := C.int(0)
	if wait {
		w = 1
	}
	n := int(C.pwc_take(f.q, &buf, &size, w))
	if buf == nil {
		return nil // another thread executed them, or (not wait) one is queueing
	}
	defer C.free(unsafe.Pointer(buf))
	all := unsafe.Slice((*byte)(unsafe.Pointer(buf)), int(size))
	f.mu.Lock()
	sets := f.sets
	f.mu.Unlock()
	// Every element of batch is zero (cleared after the last execution):
	// only a write's start and count need setting besides the rest.
	batch := slices.Grow(f.batch[:0], n)[:n]
	for i, off := 0, 0; i < n; i++ {
		e, box, data, next := entryAt(all, off)
		off = next
		// Field by field: an assignment of a composite literal builds it
		// on the stack and copies it, a stall for each of a thousand calls.
		o := &batch[i]
		o.Kind, o.Dataset, o.Rows, o.Data = kinds[e.kind], sets[e.id].d, uint64(e.n), data
		if box != nil {
			r := len(box) / 2
			o.Start, o.Count = box[:r:r], box[r:]
		}
	}
	i, err := f.w.Apply(context.Background(), batch)
	clear(batch) // no pointers into the freed queue stay
	if cap(batch) <= keepBatch {
		f.batch = batch[:0]
	}
	if err == nil {
		return nil
	}
	f.resync()
	var e *C.struct_pwc_entry
	var box []uint64
	for j, off := 0, 0; j <= i; j++ {
		e, box, _, off = entryAt(all, off)
	}
	what, detail := describe(e, box)
	err = fmt.Errorf("%s %d of %d queued on file %d (%s): %w", what, i+1, n, int64(f.q.file), detail, err)
	if n > i+1 {
		err = fmt.Errorf("%w; the %d queued after it were dropped", err, n-i-1)
	}
	return err
}

// now runs a call of d through Go at once, after the queue; one that
// changes the shape sets the mirror from it.
func (d *datasetObj) now(call func() error, reshapes bool) error {
	f := d.file
	f.run.Lock()
	defer f.run.Unlock()
	if err := f.performLocked(true); err != nil {
		return err
	}
	err := call()
	if reshapes {
		f.reset(d.d, d.cd)
	}
	return err
}

// openDataset returns the writer's open dataset of h without executing
// the queue (queue.c's calls, which checked it is one, and perform).
func openDataset(h int64) (*datasetObj, error) {
	o, err := get(h)
	return openIn(h, o, err)
}

// fnames are the names of queue.c's calls by PWC_* kind.
var fnames = [...]string{C.PWC_APPEND: "pw_dataset_append", C.PWC_EXTEND: "pw_dataset_extend",
	C.PWC_WRITE: "pw_dataset_write", C.PWC_DEFERRED: "pw_dataset_append_deferred"}

//export pwc_refused
func pwc_refused(ds C.pw_handle, fn C.int) (rc C.int) {
	defer guard(&rc)
	if _, err := openDataset(int64(ds)); err != nil {
		return fail(fmt.Errorf("%s: %w", fnames[fn], err))
	}
	return fail(fmt.Errorf("%s: dataset %d has no queue: %w", fnames[fn], ds, errBadHandle))
}

//export pwc_append_now
func pwc_append_now(ds C.pw_handle, n C.uint64_t, buf unsafe.Pointer, buflen C.size_t) (rc C.int) {
	defer guard(&rc)
	d, err := openDataset(int64(ds))
	if err != nil {
		return fail(err)
	}
	var data []byte
	if buf != nil {
		data = unsafe.Slice((*byte)(buf), d.row*uint64(n)) // queue.c checked buflen
	}
	return status(d.now(func() error { return d.d.Append(uint64(n), data) }, true))
}

//export pwc_extend_now
func pwc_extend_now(ds C.pw_handle, n0 C.uint64_t) (rc C.int) {
	defer guard(&rc)
	d, err := openDataset(int64(ds))
	if err != nil {
		return fail(err)
	}
	return status(d.now(func() error { return d.d.Extend(uint64(n0)) }, true))
}

//export pwc_write_now
func pwc_write_now(ds C.pw_handle, start, count *C.uint64_t, buf unsafe.Pointer, buflen C.size_t) (rc C.int) {
	defer guard(&rc)
	d, err := openDataset(int64(ds))
	if err != nil {
		return fail(err)
	}
	s, c, n, err := box(d.rank, d.typ, start, count, buf, buflen)
	if err != nil {
		return fail(err)
	}
	return status(d.now(func() error { return d.d.WriteSlab(s, c, unsafe.Slice((*byte)(buf), n)) }, false))
}

//export pw_perform_appends
func pw_perform_appends(file C.pw_handle) (rc C.int) {
	defer guard(&rc)
	_, err := fileOf(int64(file)) // performs them
	return status(err)
}
