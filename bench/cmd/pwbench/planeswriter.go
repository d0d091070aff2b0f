package main

import (
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"sync"
	"time"

	"pwstore/coord"
	"pwstore/internal/tool/job"
	"pwstore/internal/tool/stats"
	"pwstore/internal/tool/workload"
)

// planesWriter is `pwbench planes-writer`: the planes workload written the
// way HDF5's peer writes it, so the two compare like for like. It has the
// layout of `pwriter run --workload planes` (so the probe readers follow it),
// ends its steps with Sync as pwriter does, and prints the same JSON lines,
// but fills one plane buffer once and then changes only the first two values
// of each plane (to the workload's values, which the probe checks), where
// pwriter computes every element's value for every plane.
func planesWriter(args []string) error {
	fs := flag.NewFlagSet("pwbench planes-writer", flag.ContinueOnError)
	datasets := fs.Int("datasets", 10, "datasets")
	steps := fs.Int("steps", 20, "planes per dataset")
	side := fs.Int("side", 1000, "plane side")
	tick := fs.Duration("tick", coord.DefaultTickLen, "tick length")
	maxLag := fs.Uint64("max-lag", coord.DefaultMaxLag, "max_lag")
	pageSize := fs.Int("page-size", coord.DefaultPageSize, "page size")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("planes-writer: want one FILE, got %q", fs.Args())
	}
	p := workload.Params{Kind: workload.Planes, Datasets: *datasets, Steps: *steps, Side: *side}.Defaults()
	if err := p.Validate(); err != nil {
		return err
	}
	enc := json.NewEncoder(os.Stdout)
	var mu sync.Mutex  // guards marks and enc
	var marks []uint64 // marks[s]: the collective call that completes step s
	cfg := coord.Config{TickLen: *tick, MaxLag: *maxLag, PageSize: *pageSize, OnPublish: func(pi coord.PublishInfo) {
		mu.Lock()
		defer mu.Unlock()
		n := sort.Search(len(marks), func(i int) bool { return marks[i] > pi.Calls })
		enc.Encode(job.TickEvent{Tick: pi.Tick, StepsComplete: n})
	}}
	start := time.Now()
	w, err := coord.Create(fs.Arg(0), cfg)
	if err != nil {
		return err
	}
	layout := p.Layout(1)
	err = writePlanes(w, p, layout, func(call uint64) {
		mu.Lock()
		defer mu.Unlock()
		marks = append(marks, call)
	})
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	secs := time.Since(start).Seconds()
	st := w.Stats()
	eot := make([]float64, len(st.EOT))
	for i, d := range st.EOT {
		eot[i] = ms(d)
	}
	var bytes int64
	for _, d := range layout {
		bytes += int64(d.StepElems()) * int64(d.DType.Size()) * int64(p.Steps)
	}
	mu.Lock()
	defer mu.Unlock()
	return enc.Encode(job.WriterSummary{Summary: true, Workload: "planes", Ranks: 1, Steps: p.Steps, Bytes: bytes,
		Seconds: secs, MBPerS: float64(bytes) / 1e6 / secs, AppendsPerS: float64(p.Steps*p.Datasets) / secs,
		Ticks: st.LastTick, EOTs: len(st.EOT), EOTP50: stats.Percentile(eot, 50), EOTP99: stats.Percentile(eot, 99),
		MDBytesMax: st.MDMax, MDWritten: st.MDBytes})
}

// writePlanes creates the datasets and writes every step; mark gets the
// collective call that completes each step.
func writePlanes(w *coord.Writer, p workload.Params, layout []workload.Dataset, mark func(uint64)) error {
	ds := make([]*coord.Dataset, len(layout))
	for i, d := range layout {
		var err error
		if ds[i], err = w.CreateDataset(d.Path, job.Spec(d)); err != nil {
			return err
		}
	}
	timeDS := ds[len(ds)-1]
	if err := timeDS.SetAttr(workload.StepsAttr, coord.IntValue(0)); err != nil {
		return err
	}
	plane := make([]byte, p.Side*p.Side*4)
	for i := range p.Side * p.Side {
		binary.LittleEndian.PutUint32(plane[4*i:], uint32(i))
	}
	var stamp [8]byte
	for s := range uint64(p.Steps) {
		for i, d := range layout {
			if err := ds[i].Extend(s + 1); err != nil {
				return err
			}
			sl, _ := d.RankSlab(s, 0, 1)
			buf := plane
			if d.Path == workload.TimePath {
				binary.LittleEndian.PutUint64(stamp[:], uint64(time.Now().UnixNano()))
				buf = stamp[:]
			} else {
				workload.Fill(plane, d.DType, d.ID, s, 0, min(2, len(plane)/4))
			}
			if err := ds[i].WriteSlab(sl.Start, sl.Count, buf); err != nil {
				return err
			}
		}
		mark(w.Calls() + 1)
		if err := timeDS.SetAttr(workload.StepsAttr, coord.IntValue(int64(s+1))); err != nil {
			return err
		}
		// The step is complete: publish it soon, as pwriter does (and as
		// HDF5's peer flushes after each pass).
		if err := w.Sync(); err != nil {
			return err
		}
	}
	return nil
}
