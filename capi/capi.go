// Command capi is libpwstore, pwstore's C interface (pwstore.h), built with
// go build -buildmode=c-shared or c-archive (scripts/install-lib). It wraps
// package coord: every object is a number in a handle table, no Go pointer
// reaches C, every function returns a status and records the text of its
// error for the calling thread (pw_errmsg, in errmsg.c).
package main

/*
#define PWSTORE_NO_PROTOTYPES
#include "pwstore.h"
#include "queue.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"io/fs"
	"math/bits"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"

	"pwstore/coord"
	"pwstore/internal/infra/natsd"
)

func main() {}

// types are the element types by their PW_* number.
var types = [...]coord.Type{
	C.PW_INT8: coord.Int8, C.PW_INT16: coord.Int16, C.PW_INT32: coord.Int32, C.PW_INT64: coord.Int64,
	C.PW_UINT8: coord.Uint8, C.PW_UINT16: coord.Uint16, C.PW_UINT32: coord.Uint32, C.PW_UINT64: coord.Uint64,
	C.PW_FLOAT32: coord.Float32, C.PW_FLOAT64: coord.Float64,
}

// typeCode is the PW_* number of t (0 for a type C has no number for).
func typeCode(t coord.Type) C.int {
	for i := 1; i < len(types); i++ {
		if types[i] == t {
			return C.int(i)
		}
	}
	return 0
}

//export pw_version
func pw_version(major, minor, patch *C.int) (rc C.int) {
	defer guard(&rc)
	if major == nil || minor == nil || patch == nil {
		return fail(argf("pw_version: NULL output"))
	}
	*major, *minor, *patch = C.PW_VERSION_MAJOR, C.PW_VERSION_MINOR, C.PW_VERSION_PATCH
	return C.PW_OK
}

// servers are the embedded NATS servers of pw_nats_serve; they run until
// the process exits.
var servers struct {
	mu   sync.Mutex // guards list
	list []*natsd.Server
}

//export pw_nats_serve
func pw_nats_serve(listen *C.char, url *C.char, urllen C.size_t) (rc C.int) {
	defer guard(&rc)
	if url == nil {
		return fail(argf("pw_nats_serve: NULL url buffer"))
	}
	s, err := natsd.Start(natsd.Options{Listen: goString(listen)})
	if err != nil {
		return fail(fmt.Errorf("pw_nats_serve: %w", err))
	}
	if err := putString(url, urllen, s.URL()); err != nil {
		s.Shutdown()
		return fail(err)
	}
	servers.mu.Lock()
	servers.list = append(servers.list, s)
	servers.mu.Unlock()
	return C.PW_OK
}

// openWriter is pw_create and pw_open.
func openWriter(path *C.char, c *C.pw_config, file *C.pw_handle, open func(string, coord.Config) (*coord.Writer, error)) C.int {
	if path == nil || file == nil {
		return fail(argf("NULL path or handle pointer"))
	}
	cfg, res, err := configure(c, writerRole)
	if err != nil {
		return fail(err)
	}
	f := &fileObj{res: res}
	if err := newQueue(f); err != nil {
		res.release()
		return fail(err)
	}
	// The timer publishes the queued calls on time when the application
	// makes no further call. It starts before open returns: until f has
	// its writer, the hook has no file.
	var ready atomic.Pointer[fileObj]
	cfg.OnTimer = func() {
		if f := ready.Load(); f != nil {
			f.onTimer()
		}
	}
	w, err := open(C.GoString(path), cfg)
	if err != nil {
		res.release()
		return fail(err)
	}
	f.w = w
	ready.Store(f)
	h := add(f)
	if err := register(h, f, nil); err != nil {
		remove(h)
		w.Close()
		res.release()
		return fail(err)
	}
	*file = C.pw_handle(h)
	return C.PW_OK
}

//export pw_create
func pw_create(path *C.char, c *C.pw_config, file *C.pw_handle) (rc C.int) {
	defer guard(&rc)
	return openWriter(path, c, file, coord.Create)
}

//export pw_open
func pw_open(path *C.char, c *C.pw_config, file *C.pw_handle) (rc C.int) {
	defer guard(&rc)
	return openWriter(path, c, file, coord.Open)
}

// dims reads n values of a C array of one value per dimension.
func dims(p *C.uint64_t, n int) []uint64 {
	if p == nil {
		return nil
	}
	return unsafe.Slice((*uint64)(unsafe.Pointer(p)), n)
}

//export pw_dataset_create
func pw_dataset_create(file C.pw_handle, name *C.char, typ C.int, ndims C.int, shape, maxshape, chunk *C.uint64_t, ds *C.pw_handle) (rc C.int) {
	defer guard(&rc)
	f, err := fileOf(int64(file))
	if err != nil {
		return fail(err)
	}
	switch {
	case name == nil || shape == nil || ds == nil:
		return fail(argf("pw_dataset_create: NULL name, shape or handle pointer"))
	case ndims < 1 || ndims > C.PW_MAX_DIMS:
		return fail(argf("pw_dataset_create: ndims %d outside 1..%d", ndims, C.PW_MAX_DIMS))
	case typ < 1 || int(typ) >= len(types):
		return fail(argf("pw_dataset_create: unknown type %d", typ))
	}
	n := int(ndims)
	spec := coord.Spec{
		Type:     types[typ],
		Shape:    slices.Clone(dims(shape, n)),
		MaxShape: slices.Clone(dims(maxshape, n)),
		Chunk:    slices.Clone(dims(chunk, n)),
	}
	d, err := f.w.CreateDataset(C.GoString(name), spec)
	if err != nil {
		return fail(err)
	}
	return addDataset(f, d, ds)
}

//export pw_dataset_open
func pw_dataset_open(parent C.pw_handle, name *C.char, ds *C.pw_handle) (rc C.int) {
	defer guard(&rc)
	o, err := lookup(int64(parent))
	if err != nil {
		return fail(err)
	}
	if name == nil || ds == nil {
		return fail(argf("pw_dataset_open: NULL name or handle pointer"))
	}
	path := C.GoString(name)
	switch o := o.(type) {
	case *fileObj:
		d, err := o.w.Dataset(path)
		if err != nil {
			return fail(err)
		}
		return addDataset(o, d, ds)
	case *readerObj:
		if _, err := o.r.Dataset(path); err != nil {
			return fail(err)
		}
		*ds = C.pw_handle(add(&viewObj{reader: o, path: path}))
	default:
		return fail(wrongKind(int64(parent), o, "a file or reader"))
	}
	return C.PW_OK
}

// addDataset hands out a handle for a writer's dataset, entered in
// queue.c's table.
func addDataset(f *fileObj, d *coord.Dataset, ds *C.pw_handle) C.int {
	o, err := newDataset(f, d)
	if err != nil {
		return fail(err)
	}
	h := add(o)
	if err := register(h, f, o.cd); err != nil {
		remove(h)
		return fail(err)
	}
	*ds = C.pw_handle(h)
	return C.PW_OK
}

// spec returns the spec of a dataset handle's object, its Shape current.
func specOf(o any) (coord.Spec, error) {
	if err := checkOpen(o); err != nil {
		return coord.Spec{}, err
	}
	switch o := o.(type) {
	case *datasetObj:
		return o.d.Spec()
	case *viewObj:
		v, err := o.reader.r.Dataset(o.path)
		if err != nil {
			return coord.Spec{}, err
		}
		return v.Spec()
	}
	panic("not a dataset")
}

// writerDataset returns the writer's dataset of h, failing once its file
// is closed.
func writerDataset(h C.pw_handle) (*datasetObj, error) {
	o, err := lookup(int64(h))
	return openIn(int64(h), o, err)
}

// openIn returns o, the object of handle h found with err, as a writer's
// open dataset.
func openIn(h int64, o any, err error) (*datasetObj, error) {
	d, err := as[*datasetObj](h, o, err, "a writer's dataset")
	if err != nil {
		return nil, err
	}
	return d, checkOpen(d)
}

// box checks a slab's arguments and returns start, count and the bytes it
// needs.
func box(rank int, typ coord.Type, start, count *C.uint64_t, buf unsafe.Pointer, buflen C.size_t) ([]uint64, []uint64, int, error) {
	if start == nil || count == nil || buf == nil {
		return nil, nil, 0, argf("NULL start, count or buffer")
	}
	s, c := dims(start, rank), dims(count, rank)
	n, err := slabBytes(typ, c, buflen)
	return s, c, n, err
}

// slabBytes returns the bytes of count elements of typ, failing if buflen
// is fewer.
func slabBytes(typ coord.Type, count []uint64, buflen C.size_t) (int, error) {
	need := uint64(typ.Size())
	for _, n := range count {
		hi, lo := bits.Mul64(need, n)
		if hi != 0 {
			return 0, argf("count %v too large", count)
		}
		need = lo
	}
	if need > uint64(buflen) {
		return 0, argf("buffer of %d bytes too small: count %v of %v needs %d", buflen, count, typ, need)
	}
	return int(need), nil
}

//export pw_dataset_read
func pw_dataset_read(ds C.pw_handle, start, count *C.uint64_t, buf unsafe.Pointer, buflen C.size_t) (rc C.int) {
	defer guard(&rc)
	o, err := datasetOf(int64(ds))
	if err != nil {
		return fail(err)
	}
	if err := checkOpen(o); err != nil {
		return fail(err)
	}
	var rank int
	var typ coord.Type
	var read func(s, c []uint64, b []byte) error
	switch o := o.(type) {
	case *datasetObj:
		rank, typ, read = o.rank, o.typ, o.d.ReadSlab
	case *viewObj:
		v, err := o.reader.r.Dataset(o.path)
		if err != nil {
			return fail(err)
		}
		spec, err := v.Spec()
		if err != nil {
			return fail(err)
		}
		rank, typ, read = len(spec.Shape), spec.Type, v.ReadSlab
	}
	s, c, n, err := box(rank, typ, start, count, buf, buflen)
	if err != nil {
		return fail(err)
	}
	return status(read(s, c, unsafe.Slice((*byte)(buf), n)))
}

//export pw_dataset_info
func pw_dataset_info(ds C.pw_handle, typ, ndims *C.int, shape *C.uint64_t) (rc C.int) {
	defer guard(&rc)
	o, err := datasetOf(int64(ds))
	if err != nil {
		return fail(err)
	}
	spec, err := specOf(o)
	if err != nil {
		return fail(err)
	}
	if typ != nil {
		*typ = typeCode(spec.Type)
	}
	if ndims != nil {
		*ndims = C.int(len(spec.Shape))
	}
	copy(dims(shape, len(spec.Shape)), spec.Shape)
	return C.PW_OK
}

// specDims is pw_dataset_maxshape and pw_dataset_chunk.
func specDims(ds C.pw_handle, out *C.uint64_t, pick func(coord.Spec) []uint64) C.int {
	o, err := datasetOf(int64(ds))
	if err != nil {
		return fail(err)
	}
	if out == nil {
		return fail(argf("NULL output array"))
	}
	spec, err := specOf(o)
	if err != nil {
		return fail(err)
	}
	copy(dims(out, len(spec.Shape)), pick(spec))
	return C.PW_OK
}

//export pw_dataset_maxshape
func pw_dataset_maxshape(ds C.pw_handle, maxshape *C.uint64_t) (rc C.int) {
	defer guard(&rc)
	return specDims(ds, maxshape, func(s coord.Spec) []uint64 {
		if s.MaxShape == nil {
			return s.Shape
		}
		return s.MaxShape
	})
}

//export pw_dataset_chunk
func pw_dataset_chunk(ds C.pw_handle, chunk *C.uint64_t) (rc C.int) {
	defer guard(&rc)
	return specDims(ds, chunk, func(s coord.Spec) []uint64 { return s.Chunk })
}

// setAttr is the pw_attr_set_* functions.
func setAttr(ds C.pw_handle, key *C.char, v func() coord.Value) C.int {
	d, err := writerDataset(ds)
	if err != nil {
		return fail(err)
	}
	if key == nil {
		return fail(argf("NULL attribute name"))
	}
	return status(d.d.SetAttr(C.GoString(key), v()))
}

//export pw_attr_set_f64
func pw_attr_set_f64(ds C.pw_handle, key *C.char, v C.double) (rc C.int) {
	defer guard(&rc)
	return setAttr(ds, key, func() coord.Value { return coord.FloatValue(float64(v)) })
}

//export pw_attr_set_i64
func pw_attr_set_i64(ds C.pw_handle, key *C.char, v C.int64_t) (rc C.int) {
	defer guard(&rc)
	return setAttr(ds, key, func() coord.Value { return coord.IntValue(int64(v)) })
}

//export pw_attr_set_u64
func pw_attr_set_u64(ds C.pw_handle, key *C.char, v C.uint64_t) (rc C.int) {
	defer guard(&rc)
	return setAttr(ds, key, func() coord.Value { return coord.UintValue(uint64(v)) })
}

//export pw_attr_set_str
func pw_attr_set_str(ds C.pw_handle, key *C.char, v *C.char) (rc C.int) {
	defer guard(&rc)
	if v == nil {
		return fail(argf("NULL attribute value"))
	}
	return setAttr(ds, key, func() coord.Value { return coord.StringValue(C.GoString(v)) })
}

//export pw_attr_get
func pw_attr_get(ds C.pw_handle, key *C.char, kind *C.int, i *C.int64_t, u *C.uint64_t, f *C.double, s *C.char, slen C.size_t) (rc C.int) {
	defer guard(&rc)
	o, err := datasetOf(int64(ds))
	if err != nil {
		return fail(err)
	}
	if key == nil || kind == nil {
		return fail(argf("NULL attribute name or kind pointer"))
	}
	if err := checkOpen(o); err != nil {
		return fail(err)
	}
	name := C.GoString(key)
	var v coord.Value
	var ok bool
	switch o := o.(type) {
	case *datasetObj:
		v, ok, err = o.d.Attr(name)
	case *viewObj:
		var view *coord.View
		if view, err = o.reader.r.Dataset(o.path); err == nil {
			v, ok, err = view.Attr(name)
		}
	}
	if err != nil {
		return fail(err)
	}
	if !ok {
		return fail(fmt.Errorf("no attribute %q: %w", name, coord.ErrNotFound))
	}
	if x, ok := v.Int(); ok {
		*kind = C.PW_ATTR_INT
		if i != nil {
			*i = C.int64_t(x)
		}
	} else if x, ok := v.Uint(); ok {
		*kind = C.PW_ATTR_UINT
		if u != nil {
			*u = C.uint64_t(x)
		}
	} else if x, ok := v.Float(); ok {
		*kind = C.PW_ATTR_FLOAT
		if f != nil {
			*f = C.double(x)
		}
	} else if x, ok := v.Str(); ok {
		if err := putString(s, slen, x); err != nil {
			return fail(err)
		}
		*kind = C.PW_ATTR_STR
	} else {
		return fail(argf("attribute %q is %v data of %d bytes, not a scalar int64, uint64, float64 or text", name, v.Type, len(v.Data)))
	}
	return C.PW_OK
}

// attrNames lists a dataset's attribute names.
func attrNames(ds C.pw_handle) ([]string, error) {
	o, err := datasetOf(int64(ds))
	if err != nil {
		return nil, err
	}
	if err := checkOpen(o); err != nil {
		return nil, err
	}
	var attrs []coord.Attr
	switch o := o.(type) {
	case *datasetObj:
		attrs, err = o.d.Attrs()
	case *viewObj:
		var view *coord.View
		if view, err = o.reader.r.Dataset(o.path); err == nil {
			attrs, err = view.Attrs()
		}
	}
	if err != nil {
		return nil, err
	}
	names := make([]string, len(attrs))
	for i, a := range attrs {
		names[i] = a.Name
	}
	return names, nil
}

//export pw_attr_count
func pw_attr_count(ds C.pw_handle, n *C.size_t) (rc C.int) {
	defer guard(&rc)
	if n == nil {
		return fail(argf("NULL count pointer"))
	}
	names, err := attrNames(ds)
	if err != nil {
		return fail(err)
	}
	*n = C.size_t(len(names))
	return C.PW_OK
}

//export pw_attr_name
func pw_attr_name(ds C.pw_handle, i C.size_t, buf *C.char, buflen C.size_t) (rc C.int) {
	defer guard(&rc)
	names, err := attrNames(ds)
	if err != nil {
		return fail(err)
	}
	if uint64(i) >= uint64(len(names)) {
		return fail(argf("attribute index %d, dataset has %d", i, len(names)))
	}
	return status(putString(buf, buflen, names[i]))
}

// putString writes s NUL-terminated into the C buffer (buf, n).
func putString(buf *C.char, n C.size_t, s string) error {
	if buf == nil {
		return argf("NULL string buffer")
	}
	if uint64(len(s))+1 > uint64(n) {
		return argf("buffer of %d bytes too small: need %d", n, len(s)+1)
	}
	b := unsafe.Slice((*byte)(unsafe.Pointer(buf)), len(s)+1)
	copy(b, s)
	b[len(s)] = 0
	return nil
}

// fileCall is pw_sync, pw_end_tick and pw_flush.
func fileCall(file C.pw_handle, call func(*coord.Writer) error) C.int {
	f, err := fileOf(int64(file))
	if err != nil {
		return fail(err)
	}
	return status(call(f.w))
}

//export pw_sync
func pw_sync(file C.pw_handle) (rc C.int) {
	defer guard(&rc)
	return fileCall(file, (*coord.Writer).Sync)
}

//export pw_end_tick
func pw_end_tick(file C.pw_handle) (rc C.int) {
	defer guard(&rc)
	return fileCall(file, (*coord.Writer).EndTick)
}

//export pw_flush
func pw_flush(file C.pw_handle) (rc C.int) {
	defer guard(&rc)
	return fileCall(file, (*coord.Writer).Flush)
}

//export pw_reader_open
func pw_reader_open(path *C.char, c *C.pw_config, reader *C.pw_handle) (rc C.int) {
	defer guard(&rc)
	if path == nil || reader == nil {
		return fail(argf("pw_reader_open: NULL path or handle pointer"))
	}
	cfg, res, err := configure(c, readerRole)
	if err != nil {
		return fail(err)
	}
	p := C.GoString(path)
	r, err := coord.OpenReader(p, cfg)
	if err != nil {
		res.release()
		if _, serr := os.Stat(p); errors.Is(err, coord.ErrNotReady) && errors.Is(serr, fs.ErrNotExist) {
			err = fmt.Errorf("%w: %w", err, serr) // a missing file is not found, even after a wait
		}
		return fail(err)
	}
	*reader = C.pw_handle(add(&readerObj{r: r, res: res}))
	return C.PW_OK
}

//export pw_reader_tick
func pw_reader_tick(reader C.pw_handle, tick *C.uint64_t) (rc C.int) {
	defer guard(&rc)
	r, err := readerOf(int64(reader))
	if err != nil {
		return fail(err)
	}
	ti, err := r.r.Tick()
	if err != nil {
		return fail(err)
	}
	r.mu.Lock()
	r.ended, r.names = ti.Ended, nil
	r.mu.Unlock()
	if tick != nil {
		*tick = C.uint64_t(ti.Tick)
	}
	return C.PW_OK
}

//export pw_reader_writer_closed
func pw_reader_writer_closed(reader C.pw_handle, closed *C.int) (rc C.int) {
	defer guard(&rc)
	r, err := readerOf(int64(reader))
	if err != nil {
		return fail(err)
	}
	if closed == nil {
		return fail(argf("NULL output"))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	*closed = 0
	if r.ended {
		*closed = 1
	}
	return C.PW_OK
}

// datasetNames lists the dataset paths of a reader's snapshot (cached
// until its next tick) or of a writer's file.
func datasetNames(h C.pw_handle) ([]string, error) {
	o, err := lookup(int64(h))
	if err != nil {
		return nil, err
	}
	list := func(infos []coord.Info, err error) ([]string, error) {
		names := make([]string, len(infos))
		for i, in := range infos {
			names[i] = in.Path
		}
		return names, err
	}
	switch o := o.(type) {
	case *fileObj:
		return list(o.w.Datasets())
	case *readerObj:
		o.mu.Lock()
		defer o.mu.Unlock()
		if o.names == nil {
			names, err := list(o.r.Datasets())
			if err != nil {
				return nil, err
			}
			o.names = names
		}
		return o.names, nil
	}
	return nil, wrongKind(int64(h), o, "a reader or file")
}

//export pw_dataset_count
func pw_dataset_count(reader C.pw_handle, n *C.size_t) (rc C.int) {
	defer guard(&rc)
	names, err := datasetNames(reader)
	if err != nil {
		return fail(err)
	}
	if n == nil {
		return fail(argf("NULL count pointer"))
	}
	*n = C.size_t(len(names))
	return C.PW_OK
}

//export pw_dataset_name
func pw_dataset_name(reader C.pw_handle, i C.size_t, buf *C.char, buflen C.size_t) (rc C.int) {
	defer guard(&rc)
	names, err := datasetNames(reader)
	if err != nil {
		return fail(err)
	}
	if uint64(i) >= uint64(len(names)) {
		return fail(argf("dataset index %d, there are %d", i, len(names)))
	}
	return status(putString(buf, buflen, names[i]))
}

//export pw_recover
func pw_recover(path *C.char, c *C.pw_config, tick *C.uint64_t) (rc C.int) {
	defer guard(&rc)
	if path == nil {
		return fail(argf("pw_recover: NULL path"))
	}
	cfg, res, err := configure(c, recoverRole)
	if err != nil {
		return fail(err)
	}
	defer res.release()
	p := C.GoString(path)
	if _, err := os.Stat(p); err != nil {
		return fail(fmt.Errorf("recover: %w", err))
	}
	rec, err := coord.Recover(p, cfg)
	if err != nil {
		return fail(err)
	}
	if tick != nil {
		*tick = C.uint64_t(rec.Tick)
	}
	return C.PW_OK
}

//export pw_close
func pw_close(h C.pw_handle) (rc C.int) {
	defer guard(&rc)
	var perr error // a deferred append's error: the handle closes all the same
	if o, err := get(int64(h)); err == nil {
		perr = performFor(o)
	}
	o, err := remove(int64(h))
	if err != nil {
		return fail(err)
	}
	switch o := o.(type) {
	case *fileObj:
		C.pwc_remove(C.int64_t(h)) // refuses appends from now on
		if perr == nil {
			perr = o.perform() // ones another thread queued meanwhile
		}
		o.closed.Store(true)
		err = errors.Join(perr, o.w.Close())
		o.res.release()
	case *datasetObj:
		C.pwc_remove(C.int64_t(h))
		err = perr
	case *readerObj:
		o.closed.Store(true)
		err = o.r.Close()
		o.res.release()
	}
	return status(err)
}
