package coord

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"pwstore/internal/tool/workload"
)

func TestWriteReadSerial(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.pw")
	cfg := Config{ManualTicks: true, MaxLag: 3}
	w, err := Create(path, cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := workload.Params{Kind: workload.Planes, Side: 16, Datasets: 2, Steps: 6}.Defaults()
	layout := p.Layout(1)
	ds := make([]*Dataset, len(layout))
	for i, d := range layout {
		ds[i], err = w.CreateDataset(d.Path, specOf(d))
		if err != nil {
			t.Fatal(err)
		}
	}
	r, err := OpenReader(path, Config{ManualTicks: true})
	if err != nil {
		t.Fatal(err)
	}
	for s := range uint64(p.Steps) {
		for i, d := range layout {
			sl, _ := d.RankSlab(s, 0, 1)
			if err := ds[i].Extend(sl.Start[0] + sl.Count[0]); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, sl.Elems()*uint64(d.DType.Size()))
			d.FillSlab(buf, s, sl)
			if err := ds[i].WriteSlab(sl.Start, sl.Count, buf); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.EndTick(); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Tick(); err != nil {
			t.Fatal(err)
		}
		verifySteps(t, r, layout, s+1)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + ".md"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("metadata file still there after close: %v", err)
	}
	info, err := r.Tick()
	if err != nil || !info.Ended {
		t.Fatalf("reader after writer close: %+v, %v", info, err)
	}
	verifySteps(t, r, layout, uint64(p.Steps))
	r.Close()
	// The data file alone reads back every value.
	r2, err := OpenReader(path, Config{})
	if err != nil {
		t.Fatal(err)
	}
	verifySteps(t, r2, layout, uint64(p.Steps))
	if err := r2.Check(); err != nil {
		t.Fatal(err)
	}
	r2.Close()
	_ = time.Second
}

func specOf(d workload.Dataset) Spec {
	typ := map[workload.DType]Type{workload.Int32: Int32, workload.Int64: Int64, workload.Float64: Float64}[d.DType]
	shape := append([]uint64{0}, d.Step...)
	maxShape := append([]uint64{Unlimited}, d.Step...)
	return Spec{Type: typ, Shape: shape, MaxShape: maxShape, Chunk: d.Chunk}
}

// verifySteps checks that the reader sees at least steps steps of every
// dataset with the values the workload wrote.
func verifySteps(t *testing.T, r *Reader, layout []workload.Dataset, steps uint64) {
	t.Helper()
	for _, d := range layout {
		v, err := r.Dataset(d.Path)
		if err != nil {
			t.Fatal(err)
		}
		shape, err := v.Shape()
		if err != nil {
			t.Fatal(err)
		}
		if shape[0] < steps*d.Rows {
			t.Fatalf("%s: %d rows visible, want %d", d.Path, shape[0], steps*d.Rows)
		}
		for s := range steps {
			sl, _ := d.RankSlab(s, 0, 1)
			buf := make([]byte, sl.Elems()*uint64(d.DType.Size()))
			if err := v.ReadSlab(sl.Start, sl.Count, buf); err != nil {
				t.Fatal(err)
			}
			if err := d.CheckSlab(buf, s, sl); err != nil {
				t.Fatal(err)
			}
		}
	}
}
