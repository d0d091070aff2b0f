package coord

import (
	"context"
	"fmt"

	"pwstore/pfile"
)

// Dataset is a writer's handle on one dataset.
type Dataset struct {
	w  *Writer
	ds *pfile.Dataset
}

// CreateDataset creates a dataset. Collective. A dataset at path already
// is ErrExists; a spec that cannot be stored is ErrInvalid.
func (w *Writer) CreateDataset(path string, spec Spec) (*Dataset, error) {
	return w.CreateDatasetContext(context.Background(), path, spec)
}

// CreateDatasetContext is CreateDataset whose wait for the other ranks,
// if it enters a sync point, ends when ctx is done (the writer then fails).
func (w *Writer) CreateDatasetContext(ctx context.Context, path string, spec Spec) (*Dataset, error) {
	var d *Dataset
	err := w.collective(ctx, func() string { return fmt.Sprintf("CreateDataset(%q)", path) }, func() error {
		ds, err := w.pf.CreateDataset(path, spec.pfile())
		if err == nil {
			d = w.handle(ds)
		}
		return err
	})
	return d, err
}

// handle records the writer's handle on ds; mu held.
func (w *Writer) handle(ds *pfile.Dataset) *Dataset {
	d := &Dataset{w: w, ds: ds}
	w.dsets[ds.Path()] = d
	return d
}

// Dataset opens an existing dataset.
func (w *Writer) Dataset(path string) (*Dataset, error) {
	var d *Dataset
	err := w.independent(func() error {
		if d = w.dsets[path]; d != nil {
			return nil
		}
		ds, err := w.pf.Dataset(path)
		if err == nil {
			d = w.handle(ds)
		}
		return err
	})
	return d, err
}

// Datasets lists every dataset, sorted by path.
func (w *Writer) Datasets() ([]Info, error) {
	var out []Info
	err := w.independent(func() error {
		in, err := w.pf.Datasets()
		out = coordInfos(in)
		return err
	})
	return out, err
}

// Path returns the dataset's path.
func (d *Dataset) Path() string { return d.ds.Path() }

// Extend sets the first dimension to n (never shrinking). Collective.
func (d *Dataset) Extend(n uint64) error { return d.ExtendContext(context.Background(), n) }

// ExtendContext is Extend whose wait for the other ranks, if it enters a
// sync point, ends when ctx is done (the writer then fails).
func (d *Dataset) ExtendContext(ctx context.Context, n uint64) error {
	return d.w.collective(ctx, func() string { return extendName(d, n) }, func() error { return d.ds.Extend(n) })
}

// extendName is how an extend appears in the sync points' call records.
func extendName(d *Dataset, n uint64) string {
	return fmt.Sprintf("Extend(%q, %d)", d.ds.Path(), n)
}

// Append extends the first dimension by rows and writes those rows, whole
// in the other dimensions, from data (row-major, little-endian): Extend
// and WriteSlab in one call, which takes the writer's lock and checks the
// tick once, and appends where the dataset ends without asking its shape.
// Collective, as Extend: every rank appends the same rows; each writes its
// own data, and a rank that owns none of the new rows passes nil and only
// extends. Data of another length than the rows' bytes, or rows past the
// max shape, is ErrInvalid, and then nothing is extended.
func (d *Dataset) Append(rows uint64, data []byte) error {
	return d.AppendContext(context.Background(), rows, data)
}

// AppendContext is Append whose wait for the other ranks, if it enters a
// sync point, ends when ctx is done (the writer then fails).
func (d *Dataset) AppendContext(ctx context.Context, rows uint64, data []byte) error {
	return d.w.collective(ctx, func() string { return appendName(d, rows) }, func() error { return d.ds.Append(rows, data) })
}

// appendName is how an append appears in the sync points' call records.
func appendName(d *Dataset, rows uint64) string {
	return fmt.Sprintf("Append(%q, %d)", d.ds.Path(), rows)
}

// OpKind says what an Op of Writer.Apply does.
type OpKind uint8

const (
	OpAppend OpKind = iota // Dataset.Append(Rows, Data)
	OpExtend               // Dataset.Extend(Rows)
	OpWrite                // Dataset.WriteSlab(Start, Count, Data)
)

// Op is one call of Writer.Apply: a Dataset method's arguments.
type Op struct {
	Kind         OpKind
	Dataset      *Dataset
	Rows         uint64   // OpAppend: rows appended; OpExtend: the first dimension's new size
	Start, Count []uint64 // OpWrite: the box
	Data         []byte   // OpAppend, OpWrite
}

// Apply makes the calls in order, each as its Dataset method would:
// appends and extends collective, each a call of its own in the sync
// points' records (so that ranks may mix both ways), writes independent,
// and ticks ended between two calls when due, but under one acquisition
// of the writer's lock, which the calls of a batch (libpwstore's queued
// calls) would otherwise each take. It stops at the first call that
// fails and returns how many were made before it and its error. A
// Dataset of another writer (or nil), or an unknown Kind, is ErrInvalid.
// Calls counts the collective calls when Apply returns (the ends of tick
// it makes count them in PublishInfo.Calls).
func (w *Writer) Apply(ctx context.Context, ops []Op) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	defer func() {
		w.calls.Add(w.batched)
		w.batched = 0
	}()
	if err := w.enter(); err != nil {
		return 0, public(err)
	}
	for i := range ops {
		o := &ops[i]
		if o.Dataset == nil || o.Dataset.w != w {
			return i, fmt.Errorf("%s: call %d of %d: not a dataset of this writer: %w", w.path, i+1, len(ops), ErrInvalid)
		}
		// No enter per call: the previous call's afterCall or
		// maybeEndTick left the writer usable (or returned) and its tick
		// not due.
		var callErr, err error
		switch o.Kind {
		case OpAppend:
			callErr = o.Dataset.ds.Append(o.Rows, o.Data)
			w.batched++
			err = w.afterCall(ctx, func() string { return appendName(o.Dataset, o.Rows) })
		case OpExtend:
			callErr = o.Dataset.ds.Extend(o.Rows)
			w.batched++
			err = w.afterCall(ctx, func() string { return extendName(o.Dataset, o.Rows) })
		case OpWrite:
			// As independent: a failed write ends no tick.
			if err = o.Dataset.ds.WriteSlab(o.Start, o.Count, o.Data); err == nil {
				err = w.maybeEndTick()
			}
		default:
			return i, fmt.Errorf("%s: call %d of %d: unknown kind %d: %w", w.path, i+1, len(ops), o.Kind, ErrInvalid)
		}
		if err != nil {
			return i, public(err)
		}
		if callErr != nil {
			return i, public(callErr)
		}
	}
	return len(ops), nil
}

// SetAttr sets (adds or replaces) an attribute. Collective.
func (d *Dataset) SetAttr(name string, v Value) error {
	return d.SetAttrContext(context.Background(), name, v)
}

// SetAttrContext is SetAttr whose wait for the other ranks, if it enters
// a sync point, ends when ctx is done (the writer then fails).
func (d *Dataset) SetAttrContext(ctx context.Context, name string, v Value) error {
	return d.w.collective(ctx, func() string { return fmt.Sprintf("SetAttr(%q, %q)", d.ds.Path(), name) }, func() error { return d.ds.SetAttr(name, v.pfile()) })
}

// WriteSlab writes the box (start, count) from data (row-major,
// little-endian). Independent: each rank writes the elements it owns.
func (d *Dataset) WriteSlab(start, count []uint64, data []byte) error {
	return d.w.independent(func() error { return d.ds.WriteSlab(start, count, data) })
}

// ReadSlab reads the box (start, count) into buf.
func (d *Dataset) ReadSlab(start, count []uint64, buf []byte) error {
	return d.w.independent(func() error { return d.ds.ReadSlab(start, count, buf) })
}

// Spec returns the dataset's spec as stored (its max shape and chunk
// filled in) with the current shape.
func (d *Dataset) Spec() (Spec, error) {
	var s Spec
	err := d.w.independent(func() error {
		ps, err := d.ds.Spec()
		s = coordSpec(ps)
		return err
	})
	return s, err
}

// Shape returns the current shape.
func (d *Dataset) Shape() ([]uint64, error) {
	var s []uint64
	err := d.w.independent(func() (err error) {
		s, err = d.ds.Shape()
		return err
	})
	return s, err
}

// Attr returns one attribute.
func (d *Dataset) Attr(name string) (Value, bool, error) {
	var v Value
	var ok bool
	err := d.w.independent(func() error {
		pv, found, err := d.ds.Attr(name)
		v, ok = coordValue(pv), found
		return err
	})
	return v, ok, err
}

// Attrs returns every attribute, sorted by name.
func (d *Dataset) Attrs() ([]Attr, error) {
	var attrs []Attr
	err := d.w.independent(func() error {
		in, err := d.ds.Attrs()
		attrs = coordAttrs(in)
		return err
	})
	return attrs, err
}
