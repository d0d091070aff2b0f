package main

import (
	"fmt"
	"sync"
	"sync/atomic"

	"pwstore/collective"
	"pwstore/coord"
)

// handles is the table behind every pw_handle: a C caller holds numbers,
// never Go pointers. Numbers count up from 1 and are never reused, so a
// number below next that is not live was closed.
var handles = struct {
	mu   sync.RWMutex // guards next and live
	next int64
	live map[int64]any // *fileObj, *readerObj, *datasetObj or *viewObj
}{next: 1, live: map[int64]any{}}

// fileObj is a writer with what its configuration opened for it.
type fileObj struct {
	w      *coord.Writer
	res    resources
	closed atomic.Bool

	mu    sync.Mutex            // guards specs
	specs map[string]coord.Spec // the file's listing by path; nil until needed, and after a create
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

// datasetObj is a writer's dataset, with the type and rank every write
// checks its buffer against.
type datasetObj struct {
	file *fileObj
	d    *coord.Dataset
	typ  coord.Type
	rank int
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
	h := handles.next
	handles.next++
	handles.live[h] = o
	return h
}

// lookup returns the object of h.
func lookup(h int64) (any, error) {
	handles.mu.RLock()
	o, ok := handles.live[h]
	next := handles.next
	handles.mu.RUnlock()
	if ok {
		return o, nil
	}
	if h > 0 && h < next {
		return nil, fmt.Errorf("handle %d was closed: %w", h, errBadHandle)
	}
	return nil, fmt.Errorf("%d is not a handle: %w", h, errBadHandle)
}

// remove takes h out of the table and returns its object.
func remove(h int64) (any, error) {
	handles.mu.Lock()
	o, ok := handles.live[h]
	delete(handles.live, h)
	handles.mu.Unlock()
	if ok {
		return o, nil
	}
	return lookup(h) // the error
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

// fileOf returns the open writer of h.
func fileOf(h int64) (*fileObj, error) {
	o, err := lookup(h)
	if err != nil {
		return nil, err
	}
	f, ok := o.(*fileObj)
	if !ok {
		return nil, wrongKind(h, o, "a file")
	}
	return f, nil
}

// readerOf returns the open reader of h.
func readerOf(h int64) (*readerObj, error) {
	o, err := lookup(h)
	if err != nil {
		return nil, err
	}
	r, ok := o.(*readerObj)
	if !ok {
		return nil, wrongKind(h, o, "a reader")
	}
	return r, nil
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
