// Package job runs the checkpoint workloads of internal/workload on the
// public API: a writer job (pwriter run), a following reader job that
// verifies every snapshot (preader watch) and a deep check of a finished
// file (preader verify). Commands and multi-process tests share it.
package job

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"pwstore/collective"
	"pwstore/coord"
	"pwstore/internal/tool/stats"
	"pwstore/internal/tool/workload"
)

// Attributes the writer stores on workload.TimePath so that readers can
// rebuild the layout and know when the job is complete.
const (
	attrWorkload = "workload"
	attrDatasets = "datasets"
	attrElems    = "elems"
	attrSide     = "side"
	attrSteps    = "steps_total"
)

// TickEvent is printed (with --json) for every tick the writer publishes.
type TickEvent struct {
	Tick          uint64 `json:"tick"`
	StepsComplete int    `json:"steps_complete"`
}

// WriterSummary is the writer's closing line (--json).
type WriterSummary struct {
	Summary     bool    `json:"summary"`
	Workload    string  `json:"workload"`
	Ranks       int     `json:"ranks"`
	Steps       int     `json:"steps"`
	Bytes       int64   `json:"bytes"`
	Seconds     float64 `json:"seconds"`
	MBPerS      float64 `json:"mb_per_s"`
	AppendsPerS float64 `json:"appends_per_s"`
	Ticks       uint64  `json:"ticks"` // ticks in the metadata file, heartbeats included
	EOTs        int     `json:"eots"`  // ends of tick that published changes
	EOTP50      float64 `json:"eot_ms_p50"`
	EOTP99      float64 `json:"eot_ms_p99"`
	MDBytesMax  int64   `json:"md_bytes_max"`
	MDWritten   uint64  `json:"md_bytes_written"` // by the ends of tick that published changes
	// Stopped: the writer was asked to stop (Stop) and closed the file
	// after Steps complete steps.
	Stopped bool `json:"stopped,omitempty"`
}

// WriterOptions configure RunWriter.
type WriterOptions struct {
	Params    workload.Params
	StepDelay time.Duration // pause between steps, standing for computation
	Config    coord.Config  // Comm set for a parallel writer
	// OnTick, if set, gets every published tick (rank 0), with the writer's
	// lock held: it must be quick and must not call the writer.
	OnTick func(TickEvent)
	// OnStep, if set, is called after each step is complete on this rank.
	OnStep func(step int)
	// Stop, once closed, ends the run at the next step boundary - the same
	// one on every rank: the ranks agree on it with one allreduce per step -
	// and the file is closed cleanly with the steps written so far.
	Stop <-chan struct{}
}

// stepLog maps collective-call counts to completed steps, so each
// published tick can say exactly how many steps it makes visible.
type stepLog struct {
	mu    sync.Mutex // guards marks
	marks []uint64   // marks[s]: the collective call that completes step s
}

func (l *stepLog) mark(call uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.marks = append(l.marks, call)
}

// complete is the number of steps whose completing call is among the
// first calls collective calls.
func (l *stepLog) complete(calls uint64) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return sort.Search(len(l.marks), func(i int) bool { return l.marks[i] > calls })
}

// RunWriter runs the workload as one rank of a writer job and returns the
// summary (meaningful on rank 0).
func RunWriter(path string, o WriterOptions) (WriterSummary, error) {
	p := o.Params.Defaults()
	if err := p.Validate(); err != nil {
		return WriterSummary{}, err
	}
	ranks, rank := 1, 0
	if o.Config.Comm != nil {
		ranks, rank = o.Config.Comm.Size(), o.Config.Comm.Rank()
	}
	var log stepLog
	cfg := o.Config
	cfg.OnPublish = func(pi coord.PublishInfo) {
		if o.OnTick != nil {
			o.OnTick(TickEvent{Tick: pi.Tick, StepsComplete: log.complete(pi.Calls)})
		}
	}
	start := time.Now()
	w, err := coord.Create(path, cfg)
	if err != nil {
		return WriterSummary{}, err
	}
	layout := p.Layout(ranks)
	steps, err := writeAll(w, p, layout, rank, ranks, o, &log)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return WriterSummary{}, err
	}
	secs := time.Since(start).Seconds()
	st := w.Stats()
	var bytes int64
	for _, d := range layout {
		bytes += int64(d.StepElems()) * int64(d.DType.Size()) * int64(steps)
	}
	eot := stats.Millis(st.EOT)
	return WriterSummary{
		Summary: true, Workload: string(p.Kind), Ranks: ranks, Steps: steps, Bytes: bytes,
		Seconds: secs, MBPerS: float64(bytes) / 1e6 / secs,
		AppendsPerS: float64(steps) * float64(len(layout)-1) / secs,
		Ticks:       st.LastTick, EOTs: len(st.EOT), EOTP50: stats.Percentile(eot, 50), EOTP99: stats.Percentile(eot, 99), MDBytesMax: st.MDMax,
		MDWritten: st.MDBytes,
		Stopped:   steps < p.Steps,
	}, nil
}

// writeAll creates the datasets and writes the steps, all of them unless
// o.Stop ends the run first; it returns the steps written.
func writeAll(w *coord.Writer, p workload.Params, layout []workload.Dataset, rank, ranks int, o WriterOptions, log *stepLog) (int, error) {
	ds := make([]*coord.Dataset, len(layout))
	for i, d := range layout {
		var err error
		if ds[i], err = w.CreateDataset(d.Path, Spec(d)); err != nil {
			return 0, err
		}
		if err := ds[i].SetAttr("dtype", coord.StringValue(string(d.DType))); err != nil {
			return 0, err
		}
		if err := ds[i].SetAttr(workload.DimsAttr, coord.StringValue(d.Dims())); err != nil {
			return 0, err
		}
	}
	timeDS := ds[len(ds)-1]
	// In a fixed order: every rank must make the same calls.
	for _, a := range []coord.Attr{
		{Name: attrWorkload, Value: coord.StringValue(string(p.Kind))},
		{Name: attrDatasets, Value: coord.IntValue(int64(p.Datasets))},
		{Name: attrElems, Value: coord.IntValue(int64(p.Elems))},
		{Name: attrSide, Value: coord.IntValue(int64(p.Side))},
		{Name: attrSteps, Value: coord.IntValue(int64(p.Steps))},
		{Name: workload.StepsAttr, Value: coord.IntValue(0)},
	} {
		if err := timeDS.SetAttr(a.Name, a.Value); err != nil {
			return 0, err
		}
	}
	// Each dataset's slab once: only its start in the first dimension
	// moves from step to step.
	slabs := make([]workload.Slab, len(layout))
	mine := make([]bool, len(layout))
	for i, d := range layout {
		slabs[i], mine[i] = d.RankSlab(0, rank, ranks)
	}
	// This rank's share of each dataset, in pieces the CPU's caches hold.
	pieces := make([][]piece, len(layout))
	for i, d := range layout {
		if mine[i] && d.Path != workload.TimePath {
			pieces[i] = cut(slabs[i], d.DType.Size())
		}
	}
	var vals []byte // the values of a piece
	var stamp [8]byte
	for s := range uint64(p.Steps) {
		if stop, err := stopAt(o, s); stop || err != nil {
			return int(s), err
		}
		for i, d := range layout {
			if err := ds[i].Extend((s + 1) * d.Rows); err != nil {
				return int(s), err
			}
			if !mine[i] {
				continue
			}
			if d.Path == workload.TimePath {
				sl := slabs[i]
				sl.Start[0] = s * d.Rows
				binary.LittleEndian.PutUint64(stamp[:], uint64(time.Now().UnixNano()))
				if err := ds[i].WriteSlab(sl.Start, sl.Count, stamp[:]); err != nil {
					return int(s), err
				}
				continue
			}
			for _, pc := range pieces[i] {
				pc.sl.Start[0] = s*d.Rows + pc.row
				n := int(pc.sl.Elems()) * d.DType.Size()
				if cap(vals) < n {
					vals = make([]byte, n)
				}
				d.FillSlab(vals[:n], s, pc.sl)
				if err := ds[i].WriteSlab(pc.sl.Start, pc.sl.Count, vals[:n]); err != nil {
					return int(s), err
				}
			}
		}
		log.mark(w.Calls() + 1)
		if err := timeDS.SetAttr(workload.StepsAttr, coord.IntValue(int64(s+1))); err != nil {
			return int(s), err
		}
		if err := w.Sync(); err != nil { // the step is complete: publish it soon
			return int(s), err
		}
		if o.OnStep != nil {
			o.OnStep(int(s))
		}
		if o.StepDelay > 0 {
			select {
			case <-time.After(o.StepDelay):
			case <-o.Stop:
			}
		}
	}
	return p.Steps, nil
}

// PieceBytes: a rank's share of a step is made and written in pieces of
// about this size (pwbench measures the page cache in such writes too). Filling a piece and copying it into the page cache then
// both work in the CPU's caches, where a whole 4 MB plane, filled and then
// copied, went to memory twice (docs/DECISIONS.md).
const PieceBytes = 256 << 10

// PieceSize is the bytes of a piece cut in whole units of unit bytes (a
// plane's rows: pwbench measures the page cache in writes of that size).
func PieceSize(unit uint64) uint64 { return unit * max(1, PieceBytes/unit) }

// piece is part of a rank's share of a step: rows of it from row (within
// the step) on, or all its rows and part of an inner dimension.
type piece struct {
	row uint64        // the piece's first row within a step
	sl  workload.Slab // its start in the first dimension is set per step
}

// cut splits sl, a rank's share of step 0 of a dataset of elements of size
// bytes, into pieces of about PieceBytes along its outermost dimension of
// more than one element (whole elements of the inner dimensions each).
func cut(sl workload.Slab, size int) []piece {
	k := 0
	for k < len(sl.Count)-1 && sl.Count[k] == 1 {
		k++
	}
	unit := uint64(size)
	for _, c := range sl.Count[k+1:] {
		unit *= c
	}
	per := PieceSize(unit) / unit
	var out []piece
	for j := uint64(0); j < sl.Count[k]; j += per {
		pc := workload.Slab{Start: slices.Clone(sl.Start), Count: slices.Clone(sl.Count)}
		pc.Start[k] += j
		pc.Count[k] = min(per, sl.Count[k]-j)
		out = append(out, piece{row: pc.Start[0], sl: pc})
	}
	return out
}

// stopAt reports whether the run stops before step s: o.Stop is closed on
// this rank or, in a parallel job, on any rank.
func stopAt(o WriterOptions, s uint64) (bool, error) {
	if o.Stop == nil {
		return false, nil
	}
	var stop int64
	select {
	case <-o.Stop:
		stop = 1
	default:
	}
	comm := o.Config.Comm
	if comm == nil {
		return stop == 1, nil
	}
	got, err := comm.AllreduceInt64(context.Background(), collective.Max, []int64{stop})
	if err != nil {
		return false, fmt.Errorf("before step %d: agree on stopping: %w", s, err)
	}
	return got[0] == 1, nil
}

// Spec is the dataset spec of a workload dataset.
func Spec(d workload.Dataset) coord.Spec {
	typ := map[workload.DType]coord.Type{workload.Int32: coord.Int32, workload.Int64: coord.Int64, workload.Float64: coord.Float64}[d.DType]
	return coord.Spec{
		Type:     typ,
		Shape:    append([]uint64{0}, d.Step...),
		MaxShape: append([]uint64{coord.Unlimited}, d.Step...),
		Chunk:    d.Chunk,
	}
}

// paramsOf rebuilds a workload's parameters from the attributes its writer
// stored, so a reader can verify it.
func paramsOf(v *coord.View) (workload.Params, int, error) {
	get := func(name string) (coord.Value, error) {
		val, ok, err := v.Attr(name)
		if err != nil {
			return val, err
		}
		if !ok {
			return val, fmt.Errorf("%s has no attribute %q: not a pwriter workload file", v.Path(), name)
		}
		return val, nil
	}
	var p workload.Params
	var ints [4]int64
	for i, name := range []string{attrDatasets, attrElems, attrSide, attrSteps} {
		val, err := get(name)
		if err != nil {
			return p, 0, err
		}
		var ok bool
		if ints[i], ok = val.Int(); !ok {
			return p, 0, fmt.Errorf("%s attribute %q is not an integer", v.Path(), name)
		}
	}
	kind, err := get(attrWorkload)
	if err != nil {
		return p, 0, err
	}
	ks, ok := kind.Str()
	if !ok {
		return p, 0, fmt.Errorf("%s attribute %q is not a string", v.Path(), attrWorkload)
	}
	p = workload.Params{Kind: workload.Kind(ks), Datasets: int(ints[0]), Elems: int(ints[1]), Side: int(ints[2]), Steps: int(ints[3])}
	return p, int(ints[3]), p.Validate()
}
