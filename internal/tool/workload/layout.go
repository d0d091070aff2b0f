package workload

import (
	"fmt"
)

// DType names an element type the workloads use.
type DType string

// The element types of the workloads.
const (
	Int32   DType = "int32"
	Int64   DType = "int64"
	Float64 DType = "float64"
)

// Size is the width of one element in bytes.
func (t DType) Size() int {
	switch t {
	case Int32:
		return 4
	case Int64, Float64:
		return 8
	}
	return 0
}

// Kind selects a workload.
type Kind string

// The workloads of DESIGN section 11.
const (
	// Ckpt: a few 3-D fields of (side, side, side) float64 appended every step,
	// split across ranks along their first spatial axis, plus a per-step
	// time series and attributes.
	Ckpt Kind = "ckpt"
	// RR: the RFC's round robin: many 1-D int32 datasets, each getting a
	// small append of elems elements every step (a pass).
	RR Kind = "rr"
	// Planes: the RFC's planes: datasets of (n, side, side) int32 with chunk
	// (1, side, side), one plane appended to each every step.
	Planes Kind = "planes"
)

// TimePath is the dataset every workload appends its steps' wall-clock
// publication times to (int64 nanoseconds since the Unix epoch); its
// attribute StepsAttr counts the complete steps. A step is complete, and a
// reader may verify it, once StepsAttr exceeds it: the writer sets the
// attribute only after every rank wrote the step's data.
const (
	TimePath  = "/steps/time"
	StepsAttr = "steps_complete"
)

// Params sizes a workload. Zero fields take the defaults of Defaults.
type Params struct {
	Kind     Kind
	Steps    int // steps (passes) to write
	Datasets int // ckpt: fields; rr: datasets; planes: datasets
	Elems    int // rr: elements per append; ckpt: series length per step
	Side     int // ckpt: cube side; planes: plane side
}

// Defaults fills the zero fields of p with the workload's defaults.
func (p Params) Defaults() Params {
	if p.Kind == "" {
		p.Kind = Ckpt
	}
	def := map[Kind]Params{
		Ckpt:   {Steps: 50, Datasets: 3, Elems: 1, Side: 32},
		RR:     {Steps: 100, Datasets: 100, Elems: 1, Side: 1},
		Planes: {Steps: 20, Datasets: 10, Elems: 1, Side: 1000},
	}[p.Kind]
	if p.Steps == 0 {
		p.Steps = def.Steps
	}
	if p.Datasets == 0 {
		p.Datasets = def.Datasets
	}
	if p.Elems == 0 {
		p.Elems = def.Elems
	}
	if p.Side == 0 {
		p.Side = def.Side
	}
	return p
}

// Validate reports parameters no workload can run with.
func (p Params) Validate() error {
	switch p.Kind {
	case Ckpt, RR, Planes:
	default:
		return fmt.Errorf("unknown workload %q (want ckpt, rr or planes)", p.Kind)
	}
	if p.Steps < 1 || p.Datasets < 1 || p.Elems < 1 || p.Side < 1 {
		return fmt.Errorf("workload %s: steps, datasets, elems and side must be positive", p.Kind)
	}
	if p.Datasets > 1_000_000 {
		return fmt.Errorf("workload %s: %d datasets is more than 1,000,000", p.Kind, p.Datasets)
	}
	return nil
}

// Dataset is one dataset of a workload. Its shape is (steps*Rows, Step...):
// the first dimension is unlimited and grows by Rows every step.
type Dataset struct {
	ID    uint64 // the dataset number in Value(d, s, e)
	Path  string
	DType DType
	Rows  uint64   // rows appended per step
	Step  []uint64 // the dimensions after the first
	Chunk []uint64 // chunk shape, all dimensions
	Owner int      // -1: split across ranks along Step[0]; else the rank that writes it all
}

// StepElems is the number of elements one step appends.
func (d Dataset) StepElems() uint64 {
	n := d.Rows
	for _, x := range d.Step {
		n *= x
	}
	return n
}

// Layout lists the datasets of p (after Defaults) for a job of ranks ranks.
// The time dataset (TimePath) comes last; it is written by rank 0.
func (p Params) Layout(ranks int) []Dataset {
	var ds []Dataset
	side := uint64(p.Side)
	switch p.Kind {
	case Ckpt:
		for i := range p.Datasets {
			ds = append(ds, Dataset{Path: fmt.Sprintf("/fields/f%02d", i), DType: Float64, Rows: 1,
				Step: []uint64{side, side, side}, Chunk: []uint64{1, side, side, side}, Owner: -1})
		}
		ds = append(ds, Dataset{Path: "/series/energy", DType: Float64, Rows: uint64(p.Elems),
			Chunk: []uint64{chunkRows(uint64(p.Elems), 8)}, Owner: 0})
	case RR:
		for i := range p.Datasets {
			ds = append(ds, Dataset{Path: fmt.Sprintf("/rr/d%05d", i), DType: Int32, Rows: uint64(p.Elems),
				Chunk: []uint64{chunkRows(uint64(p.Elems), 4)}, Owner: i % ranks})
		}
	case Planes:
		for i := range p.Datasets {
			ds = append(ds, Dataset{Path: fmt.Sprintf("/planes/p%02d", i), DType: Int32, Rows: 1,
				Step: []uint64{side, side}, Chunk: []uint64{1, side, side}, Owner: -1})
		}
	}
	ds = append(ds, Dataset{Path: TimePath, DType: Int64, Rows: 1, Chunk: []uint64{512}, Owner: 0})
	for i := range ds {
		ds[i].ID = uint64(i)
	}
	return ds
}

// chunkRows picks a 1-D chunk of about 4 KiB that holds whole appends.
func chunkRows(rows uint64, elem uint64) uint64 {
	per := 4096 / elem
	if rows >= per {
		return rows
	}
	return per / rows * rows
}

// Slab is the part of one step of a dataset that a rank writes: Start and
// Count over all dimensions of the dataset, for step s.
type Slab struct {
	Start, Count []uint64
}

// Elems is the number of elements in the slab.
func (s Slab) Elems() uint64 {
	n := uint64(1)
	for _, c := range s.Count {
		n *= c
	}
	return n
}

// RankSlab is the slab of step s of d written by rank of ranks, and whether
// the rank writes anything. Split datasets are cut along their first spatial
// axis, in contiguous runs as even as possible.
func (d Dataset) RankSlab(s uint64, rank, ranks int) (Slab, bool) {
	start := make([]uint64, 1+len(d.Step))
	count := make([]uint64, 1+len(d.Step))
	start[0], count[0] = s*d.Rows, d.Rows
	copy(count[1:], d.Step)
	if d.Owner >= 0 {
		return Slab{start, count}, d.Owner == rank
	}
	n := d.Step[0]
	lo, hi := n*uint64(rank)/uint64(ranks), n*uint64(rank+1)/uint64(ranks)
	if lo == hi {
		return Slab{}, false
	}
	start[1], count[1] = lo, hi-lo
	return Slab{start, count}, true
}

// SpotSlab is the first n elements (at most) of step s of d: the first
// position of every dimension but the last. Enough to tell whether the
// step is there and right, at little cost.
func (d Dataset) SpotSlab(s, n uint64) Slab {
	sl, _ := d.RankSlab(s, 0, 1)
	last := len(sl.Count) - 1
	for k := range last {
		sl.Count[k] = 1
	}
	sl.Count[last] = min(sl.Count[last], n)
	return sl
}

// FillSlab writes the values of slab sl of step s of d into p (row-major,
// little-endian). Element numbers are linear within the whole step, so every
// rank split gives the same values.
func (d Dataset) FillSlab(p []byte, s uint64, sl Slab) {
	size := d.DType.Size()
	i := 0
	d.eachRun(sl, func(e0 uint64, n int) {
		Fill(p[i*size:(i+n)*size], d.DType, d.ID, s, e0, n)
		i += n
	})
}

// CheckSlab compares p, read from slab sl of step s, with the values the
// writer wrote, and reports the first element that differs.
func (d Dataset) CheckSlab(p []byte, s uint64, sl Slab) error {
	size := d.DType.Size()
	i := 0
	var bad error
	d.eachRun(sl, func(e0 uint64, n int) {
		if bad != nil {
			return
		}
		if k := Check(p[i*size:(i+n)*size], d.DType, d.ID, s, e0, n); k >= 0 {
			bad = mismatch(d.Path, d.DType, d.ID, s, e0+uint64(k), p[(i+k)*size:(i+k+1)*size])
		}
		i += n
	})
	return bad
}

// eachRun calls fn for every run of contiguous elements of sl in row-major
// order, with the run's first linear element number within the step.
func (d Dataset) eachRun(sl Slab, fn func(e0 uint64, n int)) {
	if len(d.Step) == 0 { // 1-D (round robin's appends): one run
		fn(sl.Start[0]%d.Rows, int(sl.Count[0]))
		return
	}
	dims := append([]uint64{d.Rows}, d.Step...)
	rel := make([]uint64, len(dims)) // slab start relative to the step
	copy(rel, sl.Start)
	rel[0] = sl.Start[0] % d.Rows
	// Dimensions the slab spans whole, from the last, are contiguous with the
	// one before them: they and it make one run (a whole plane is one run,
	// not one per row: one Fill or Check call, with its progression and its
	// tail, instead of a thousand).
	j := len(dims) - 1
	runLen := sl.Count[j]
	for j > 0 && rel[j] == 0 && sl.Count[j] == dims[j] {
		j--
		runLen *= sl.Count[j]
	}
	idx := make([]uint64, len(dims)) // position within the slab, dims j and on fixed at 0
	for {
		var e uint64
		for k := range dims {
			e = e*dims[k] + rel[k] + idx[k]
		}
		fn(e, int(runLen))
		k := j - 1
		for ; k >= 0; k-- {
			idx[k]++
			if idx[k] < sl.Count[k] {
				break
			}
			idx[k] = 0
		}
		if k < 0 {
			return
		}
	}
}
