package coord

import (
	"fmt"

	"pwstore/pfile"
)

// The data model, from the data-file package.
type (
	Spec  = pfile.Spec
	Type  = pfile.Type
	Value = pfile.Value
	Attr  = pfile.Attr
	Info  = pfile.Info
)

// The element types, and the unlimited extent of a first dimension.
var (
	Int8    = pfile.Int8
	Int16   = pfile.Int16
	Int32   = pfile.Int32
	Int64   = pfile.Int64
	Uint8   = pfile.Uint8
	Uint16  = pfile.Uint16
	Uint32  = pfile.Uint32
	Uint64  = pfile.Uint64
	Float32 = pfile.Float32
	Float64 = pfile.Float64
	Bytes   = pfile.Bytes
)

// Unlimited as the first dimension of a max shape lets a dataset grow along it.
const Unlimited = pfile.Unlimited

// Attribute values.
var (
	IntValue    = pfile.IntValue
	UintValue   = pfile.UintValue
	FloatValue  = pfile.FloatValue
	StringValue = pfile.StringValue
)

// Dataset is a writer's handle on one dataset.
type Dataset struct {
	w  *Writer
	ds *pfile.Dataset
}

// CreateDataset creates a dataset. Collective.
func (w *Writer) CreateDataset(path string, spec Spec) (*Dataset, error) {
	var d *Dataset
	err := w.collective(fmt.Sprintf("CreateDataset(%q)", path), func() error {
		ds, err := w.pf.CreateDataset(path, spec)
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
	err := w.independent(func() (err error) {
		out, err = w.pf.Datasets()
		return err
	})
	return out, err
}

// Path returns the dataset's path.
func (d *Dataset) Path() string { return d.ds.Path() }

// Extend sets the first dimension to n (never shrinking). Collective.
func (d *Dataset) Extend(n uint64) error {
	return d.w.collective(fmt.Sprintf("Extend(%q, %d)", d.ds.Path(), n), func() error { return d.ds.Extend(n) })
}

// SetAttr sets an attribute. Collective.
func (d *Dataset) SetAttr(name string, v Value) error {
	return d.w.collective(fmt.Sprintf("SetAttr(%q, %q)", d.ds.Path(), name), func() error { return d.ds.SetAttr(name, v) })
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
	err := d.w.independent(func() (err error) {
		v, ok, err = d.ds.Attr(name)
		return err
	})
	return v, ok, err
}
