package coord_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"pwstore/coord"
)

// Append extends and writes rows in one call; a refused append extends
// nothing; nil data only extends; the rows read back from the writer and,
// after close, from a reader; a writer's dataset lists its attributes.
func TestAppend(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.pw")
	w, err := coord.Create(path, coord.Config{TickLen: coord.DefaultTickLen})
	if err != nil {
		t.Fatal(err)
	}
	d, err := w.CreateDataset("/rows", coord.Spec{Type: coord.Int16, Shape: []uint64{0, 3},
		MaxShape: []uint64{coord.Unlimited, 3}, Chunk: []uint64{4, 3}})
	if err != nil {
		t.Fatal(err)
	}
	fixed, err := w.CreateDataset("/fixed", coord.Spec{Type: coord.Int16, Shape: []uint64{2, 3}})
	if err != nil {
		t.Fatal(err)
	}
	rows := func(vals ...int16) []byte {
		b := make([]byte, 0, 2*len(vals))
		for _, v := range vals {
			b = binary.LittleEndian.AppendUint16(b, uint16(v))
		}
		return b
	}
	shape := func(want uint64) {
		t.Helper()
		s, err := d.Shape()
		if err != nil || !slices.Equal(s, []uint64{want, 3}) {
			t.Fatalf("shape %v, %v; want [%d 3]", s, err, want)
		}
	}
	if err := d.Append(2, rows(1, 2, 3, 4, 5, 6)); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct {
		rows uint64
		data []byte
	}{{1, rows(1, 2)}, {1, rows(1, 2, 3, 4)}, {2, rows(1, 2, 3)}, {^uint64(0), rows(1, 2, 3)}, {^uint64(0) - 1, nil}} {
		if err := d.Append(bad.rows, bad.data); !errors.Is(err, coord.ErrInvalid) {
			t.Errorf("Append(%d, %d bytes): %v, want ErrInvalid", bad.rows, len(bad.data), err)
		}
	}
	shape(2)
	if err := fixed.Append(1, rows(1, 2, 3)); !errors.Is(err, coord.ErrInvalid) {
		t.Errorf("Append to a fixed dataset: %v, want ErrInvalid", err)
	}
	if err := d.Append(1, nil); err != nil { // extend only: row 2 stays zero
		t.Fatal(err)
	}
	if err := d.Append(0, rows()); err != nil {
		t.Fatal(err)
	}
	if err := d.Append(5, rows(7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21)); err != nil { // across chunks
		t.Fatal(err)
	}
	shape(8)
	want := rows(1, 2, 3, 4, 5, 6, 0, 0, 0, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21)
	got := make([]byte, len(want))
	if err := d.ReadSlab([]uint64{0, 0}, []uint64{8, 3}, got); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("writer reads %v, %v; want %v", got, err, want)
	}
	if err := d.SetAttr("units", coord.StringValue("K")); err != nil {
		t.Fatal(err)
	}
	if err := d.SetAttr("step", coord.IntValue(3)); err != nil {
		t.Fatal(err)
	}
	attrs, err := d.Attrs()
	if err != nil || len(attrs) != 2 || attrs[0].Name != "step" || attrs[1].Name != "units" {
		t.Fatalf("writer's Attrs: %v, %v; want step, units", attrs, err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Attrs(); !errors.Is(err, coord.ErrClosed) {
		t.Errorf("Attrs after Close: %v, want ErrClosed", err)
	}
	if err := d.Append(1, nil); !errors.Is(err, coord.ErrClosed) {
		t.Errorf("Append after Close: %v, want ErrClosed", err)
	}
	r, err := coord.OpenReader(path, coord.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	v, err := r.Dataset("/rows")
	if err != nil {
		t.Fatal(err)
	}
	clear(got)
	if err := v.ReadSlab([]uint64{0, 0}, []uint64{8, 3}, got); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("reader reads %v, %v; want %v", got, err, want)
	}
}
