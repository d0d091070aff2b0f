package main

/*
#include "queue.h"
*/
import "C"

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"pwstore/collective"
	"pwstore/coord"
)

// handles is the table behind every pw_handle: a C caller holds numbers,
// never Go pointers. Numbers count up from 1 and are never reused, so a
// number below next that is not live was closed. Handle h lives in slot
// h-1 of a directory of fixed pages; lookups, one or two on every call of
// the C interface, read it without a lock (an atomic load of the directory
// and of the slot), since a lock and a map cost as much as the rest of a
// one-element write's own checks. A page whose handles were all handed
// out and closed is dropped, so that a code that opens and closes handles
// for ever keeps only 8 bytes per 1,024 closed handles.
var handles struct {
	mu   sync.Mutex              // serialises add and remove: guards growth of dir and the slots' writers
	next atomic.Int64            // the next number to hand out; written under mu
	dir  atomic.Pointer[[]*page] // the pages; replaced (copied, one page longer) under mu
}

// pageSize is the number of slots of a page.
const pageSize = 1024

// page is a block of slots; a slot holds its live object, or nil.
type page struct {
	slots [pageSize]atomic.Pointer[entry]
	live  int // slots holding an object; guarded by handles.mu
}

// entry boxes a handle's object (*fileObj, *readerObj, *datasetObj or
// *viewObj) for an atomic pointer.
type entry struct{ o any }

func init() { handles.next.Store(1) }

// fileObj is a writer with what its configuration opened for it.
type fileObj struct {
	w      *coord.Writer
	res    resources
	closed atomic.Bool
	q      *C.struct_pwc_queue // its queued calls (queue.c)
	// run is held while q's calls execute, and while a call goes through
	// Go at once (datasetObj.now): keeps them in order; guards batch and
	// late.
	run   sync.Mutex
	batch []coord.Op // the calls being executed, kept for the next execution's (up to keepBatch)
	late  error      // the failure of an execution the timer made, for the next call that executes

	mu      sync.Mutex                    // guards mirrors and sets
	mirrors map[string]*C.struct_pwc_dset // the mirror of each dataset with a handle, by path
	sets    []dsetRef                     // those datasets, by their mirror's id
}

// dsetRef is a dataset of a file and its mirror in queue.c.
type dsetRef struct {
	d  *coord.Dataset
	cd *C.struct_pwc_dset
}

// readerObj is a reader with what its configuration opened for it.
type readerObj struct {
	r      *coord.Reader
	res    resources
	closed atomic.Bool

	mu    sync.Mutex // guards ended and names
	ended bool       // the last Tick adopted the writer's closing tick
	names []string   // dataset paths of the adopted snapshot; nil until listed
}

// datasetObj is a writer's dataset, with the type and rank every read
// checks its buffer against, and the bytes of a row.
type datasetObj struct {
	file *fileObj
	d    *coord.Dataset
	cd   *C.struct_pwc_dset // its mirror, shared by its handles
	typ  coord.Type
	rank int
	row  uint64 // bytes of one row (all ones past a uint64)
}

// newDataset is the object of a writer's dataset handle.
func newDataset(f *fileObj, d *coord.Dataset) (*datasetObj, error) {
	spec, err := d.Spec()
	if err != nil {
		return nil, err
	}
	cd, err := f.mirror(d, spec)
	if err != nil {
		return nil, err
	}
	return &datasetObj{file: f, d: d, cd: cd, typ: spec.Type, rank: len(spec.Shape), row: rowBytes(spec.Type, spec.Shape[1:])}, nil
}

// viewObj is a reader's dataset: the reader and a path, resolved in the
// reader's snapshot at every call, so that it follows the reader's ticks.
type viewObj struct {
	reader *readerObj
	path   string
}

// resources are what a writer's or reader's configuration opened: a
// communicator and a log file, released at close.
type resources struct {
	comm     collective.Comm
	closeLog func()
}

func (r resources) release() {
	if r.comm != nil {
		r.comm.Close()
	}
	if r.closeLog != nil {
		r.closeLog()
	}
}

// add stores o and returns its new handle.
func add(o any) int64 {
	handles.mu.Lock()
	defer handles.mu.Unlock()
	h := handles.next.Load()
	i := h - 1
	var dir []*page
	if d := handles.dir.Load(); d != nil {
		dir = *d
	}
	if i/pageSize >= int64(len(dir)) {
		dir = append(slices.Clip(dir), new(page))
		handles.dir.Store(&dir)
	}
	p := dir[i/pageSize]
	p.slots[i%pageSize].Store(&entry{o})
	p.live++
	handles.next.Store(h + 1)
	return h
}

// slot returns the slot of h: nil if h was never handed out or its page
// was dropped.
func slot(h int64) *atomic.Pointer[entry] {
	d := handles.dir.Load()
	if h <= 0 || d == nil {
		return nil
	}
	i := h - 1
	if i/pageSize >= int64(len(*d)) || (*d)[i/pageSize] == nil {
		return nil
	}
	return &(*d)[i/pageSize].slots[i%pageSize]
}

// lookup returns the object of h, having executed the deferred appends
// of its file if it is a writer's file or dataset: every call of the C
// interface finds its handles here, so none observes the file before
// them. An error of theirs is the lookup's.
func lookup(h int64) (any, error) {
	o, err := get(h)
	if err != nil {
		return nil, err
	}
	return o, performFor(o)
}

// get returns the object of h.
func get(h int64) (any, error) {
	if s := slot(h); s != nil {
		if e := s.Load(); e != nil {
			return e.o, nil
		}
	}
	return nil, badHandle(h)
}

// badHandle is the error of a handle that is not live.
func badHandle(h int64) error {
	if h > 0 && h < handles.next.Load() {
		return fmt.Errorf("handle %d was closed: %w", h, errBadHandle)
	}
	return fmt.Errorf("%d is not a handle: %w", h, errBadHandle)
}

// remove takes h out of the table and returns its object.
func remove(h int64) (any, error) {
	handles.mu.Lock()
	defer handles.mu.Unlock()
	s := slot(h)
	if s == nil {
		return nil, badHandle(h)
	}
	e := s.Swap(nil)
	if e == nil {
		return nil, badHandle(h)
	}
	d := *handles.dir.Load()
	i := (h - 1) / pageSize
	if d[i].live--; d[i].live == 0 && (i+1)*pageSize < handles.next.Load() {
		d = slices.Clone(d) // readers may hold the old directory
		d[i] = nil
		handles.dir.Store(&d)
	}
	return e.o, nil
}

// kindName names the kind of a handle's object in errors.
func kindName(o any) string {
	switch o.(type) {
	case *fileObj:
		return "a file"
	case *readerObj:
		return "a reader"
	case *datasetObj, *viewObj:
		return "a dataset"
	}
	return "unknown"
}

func wrongKind(h int64, o any, want string) error {
	return fmt.Errorf("handle %d is %s handle, not %s: %w", h, kindName(o), want, errBadHandle)
}

// as returns o, the object of handle h found with err, as a T (want
// names T in the error of another kind).
func as[T any](h int64, o any, err error, want string) (T, error) {
	t, ok := o.(T)
	switch {
	case err != nil:
		return t, err
	case !ok:
		return t, wrongKind(h, o, want)
	}
	return t, nil
}

// fileOf returns the open writer of h.
func fileOf(h int64) (*fileObj, error) {
	o, err := lookup(h)
	return as[*fileObj](h, o, err, "a file")
}

// readerOf returns the open reader of h.
func readerOf(h int64) (*readerObj, error) {
	o, err := lookup(h)
	return as[*readerObj](h, o, err, "a reader")
}

// datasetOf returns the dataset of h: a *datasetObj or a *viewObj.
func datasetOf(h int64) (any, error) {
	o, err := lookup(h)
	if err != nil {
		return nil, err
	}
	switch o.(type) {
	case *datasetObj, *viewObj:
		return o, nil
	}
	return nil, wrongKind(h, o, "a dataset")
}

// checkOpen fails with coord.ErrClosed once a dataset's file or reader is
// closed.
func checkOpen(o any) error {
	switch o := o.(type) {
	case *datasetObj:
		if o.file.closed.Load() {
			return fmt.Errorf("dataset %q: its file was closed: %w", o.d.Path(), coord.ErrClosed)
		}
	case *viewObj:
		if o.reader.closed.Load() {
			return fmt.Errorf("dataset %q: its reader was closed: %w", o.path, coord.ErrClosed)
		}
	}
	return nil
}
