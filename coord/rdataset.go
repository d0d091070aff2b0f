package coord

import (
	"errors"
	"fmt"

	"pwstore/pfile"
)

// View is a reader's handle on one dataset. What it reads is the snapshot
// the reader adopted last: shapes and values change only at Tick.
type View struct {
	r    *Reader
	path string
}

// read runs fn under the reader's lock, after an automatic tick if due.
// If fn loaded a page that the writer's Close may have written early
// (errFinal), nothing fn read is kept (the page buffer never took that
// page, and fn's results are overwritten): the reader moves to the final
// tick and runs fn again, whole. Once there it cannot meet errFinal again.
func (r *Reader) read(fn func() error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.enter(); err != nil {
		return public(err)
	}
	err := fn()
	if errors.Is(err, errFinal) {
		if _, err = r.catchUp(); err == nil {
			err = fn()
		}
	}
	return public(err)
}

// Datasets lists every dataset of the adopted snapshot, sorted by path.
func (r *Reader) Datasets() ([]Info, error) {
	var out []Info
	err := r.read(func() error {
		in, err := r.pf.Datasets()
		out = coordInfos(in)
		return err
	})
	return out, err
}

// Dataset returns a view of the dataset at path (ErrNotFound if the
// adopted snapshot has none).
func (r *Reader) Dataset(path string) (*View, error) {
	err := r.read(func() error {
		_, err := r.pf.Dataset(path)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &View{r: r, path: path}, nil
}

// on runs fn on the current state of the view's dataset.
func (v *View) on(fn func(ds *pfile.Dataset) error) error {
	return v.r.read(func() error {
		ds, err := v.r.pf.Dataset(v.path)
		if err != nil {
			return fmt.Errorf("%s: %w", v.path, err)
		}
		return fn(ds)
	})
}

// Path returns the dataset's path.
func (v *View) Path() string { return v.path }

// Shape returns the dataset's shape in the adopted snapshot.
func (v *View) Shape() (shape []uint64, err error) {
	err = v.on(func(ds *pfile.Dataset) error {
		shape, err = ds.Shape()
		return err
	})
	return shape, err
}

// Spec returns the dataset's spec with its current shape.
func (v *View) Spec() (spec Spec, err error) {
	err = v.on(func(ds *pfile.Dataset) error {
		s, err := ds.Spec()
		spec = coordSpec(s)
		return err
	})
	return spec, err
}

// ReadSlab reads the box (start, count) into buf (row-major,
// little-endian).
func (v *View) ReadSlab(start, count []uint64, buf []byte) error {
	return v.on(func(ds *pfile.Dataset) error { return ds.ReadSlab(start, count, buf) })
}

// Attr returns one attribute.
func (v *View) Attr(name string) (val Value, ok bool, err error) {
	err = v.on(func(ds *pfile.Dataset) error {
		pv, found, err := ds.Attr(name)
		val, ok = coordValue(pv), found
		return err
	})
	return val, ok, err
}

// Attrs returns every attribute, sorted by name.
func (v *View) Attrs() (attrs []Attr, err error) {
	err = v.on(func(ds *pfile.Dataset) error {
		in, err := ds.Attrs()
		attrs = coordAttrs(in)
		return err
	})
	return attrs, err
}

// Check verifies every structure and checksum of the adopted snapshot.
func (r *Reader) Check() error {
	return r.read(func() error { return r.pf.Check(pfile.CheckOptions{Closed: r.ended()}) })
}
