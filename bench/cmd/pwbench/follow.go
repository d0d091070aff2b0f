package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"pwstore/collective"
	"pwstore/coord"
	"pwstore/internal/infra/natsd"
	"pwstore/internal/tool/job"
	"pwstore/internal/tool/stats"
	"pwstore/internal/tool/workload"
)

// The probe follower is a collective reader that does what the HDF5 peer's
// SWMR reader does: it ticks every 2 ms and, for every new step, checks the
// first two values of that step in every dataset (each rank a share of the
// steps) and measures write-to-visible latency from the step's publication
// time in workload.TimePath (with more than maxSpot datasets, it checks two
// of them per step, as HDF5's reader checks one). preader watch instead checks every element of
// every new step, which for planes (40 MB a step) takes longer than the
// writer needs to write it; see the bench's README.

// followOptions describe the file being followed.
type followOptions struct {
	path     string
	ranks    int
	kind     string
	datasets int
	side     int
	wait     time.Duration // for the file to appear, and for progress
}

// followSummary is what the ranks saw.
type followSummary struct {
	ranks    int
	ticks    []map[string]any // rank 0's adopted ticks, as preader watch prints them
	lat      []float64
	steps    int
	verified int
	errors   int
	err      error
}

// summary is the summary line preader watch would print.
func (f followSummary) summary() map[string]any {
	m := map[string]any{"summary": true, "ranks": float64(f.ranks), "ticks": float64(len(f.ticks)),
		"snapshots_verified": float64(f.verified), "steps": float64(f.steps), "errors": float64(f.errors),
		"lat_ms_p50": stats.Percentile(f.lat, 50), "lat_ms_p99": stats.Percentile(f.lat, 99), "lat_ms_max": 0.0}
	for _, l := range f.lat {
		m["lat_ms_max"] = max(m["lat_ms_max"].(float64), l)
	}
	if f.err != nil {
		m["error"] = f.err.Error()
	}
	return m
}

// follow runs o.ranks reader ranks (goroutines, each with its own NATS
// connection to an embedded server) until the writer closes the file.
func follow(ctx context.Context, o followOptions) followSummary {
	sum := followSummary{ranks: o.ranks}
	var comms []collective.Comm
	if o.ranks > 1 {
		srv, err := natsd.Start(natsd.Options{})
		if err != nil {
			sum.err = err
			return sum
		}
		defer srv.Shutdown()
		comms = make([]collective.Comm, o.ranks)
		errs := make([]error, o.ranks)
		var wg sync.WaitGroup
		for rank := range o.ranks {
			wg.Go(func() {
				comms[rank], errs[rank] = collective.Open(ctx, collective.Config{
					Rank: rank, Size: o.ranks, Job: "pwbench-probe", URL: srv.URL(), Timeout: o.wait,
				})
			})
		}
		wg.Wait()
		defer func() {
			for _, c := range comms {
				if c != nil {
					c.Close()
				}
			}
		}()
		if sum.err = errors.Join(errs...); sum.err != nil {
			return sum
		}
	}
	p := workload.Params{Kind: workload.Kind(o.kind), Datasets: o.datasets, Side: o.side, Steps: 1}.Defaults()
	layout := p.Layout(1)
	results := make([]followSummary, o.ranks)
	var wg sync.WaitGroup
	for rank := range o.ranks {
		wg.Go(func() {
			var comm collective.Comm
			if comms != nil {
				comm = comms[rank]
			}
			results[rank] = followRank(ctx, o, comm, rank, layout)
		})
	}
	wg.Wait()
	r0 := results[0]
	sum.ticks, sum.lat, sum.steps, sum.verified = r0.ticks, r0.lat, r0.steps, r0.verified
	var errs []error
	for rank, r := range results {
		sum.errors += r.errors
		if r.err != nil {
			errs = append(errs, fmt.Errorf("rank %d: %w", rank, r.err))
		}
	}
	sum.err = errors.Join(errs...)
	return sum
}

// followRank is one reader rank.
func followRank(ctx context.Context, o followOptions, comm collective.Comm, rank int, layout []workload.Dataset) followSummary {
	var sum followSummary
	// fail stops this rank and, through the communicator, the others, which
	// would otherwise wait in their next Tick for the collective timeout.
	fail := func(err error) followSummary {
		if comm != nil {
			comm.Abort(err.Error())
		}
		sum.err = err
		return sum
	}
	r, err := coord.OpenReader(o.path, coord.Config{Comm: comm, ManualTicks: true, OpenWait: o.wait})
	if err != nil {
		return fail(err)
	}
	defer r.Close()
	size := max(1, o.ranks)
	lastMove := time.Now()
	for {
		info, err := r.Tick()
		if err != nil {
			return fail(err)
		}
		adopted := time.Now()
		var writerTick uint64
		if info.Changed {
			lastMove = adopted
			lag, _ := r.Lag()
			writerTick = info.Tick + lag
		}
		steps, err := job.CompleteSteps(r)
		if err != nil {
			return fail(err)
		}
		for s := sum.steps; s < steps; s++ {
			if s%size == rank {
				if err := spotCheck(r, layout, uint64(s)); err != nil {
					sum.errors++
					if sum.err == nil {
						sum.err = err
					}
				}
			}
			if rank == 0 {
				l, err := latency(r, uint64(s), adopted)
				if err != nil {
					return fail(err)
				}
				sum.lat = append(sum.lat, l)
			}
		}
		sum.verified++
		if info.Changed && rank == 0 {
			sum.ticks = append(sum.ticks, map[string]any{"tick": float64(info.Tick), "steps": float64(steps),
				"writer_tick": float64(writerTick)})
		}
		sum.steps = max(sum.steps, steps)
		// Every rank adopted the same tick, so every rank stops at the same one.
		if info.Ended {
			return sum
		}
		if ctx.Err() != nil {
			return fail(fmt.Errorf("stopped at tick %d after %d steps: %w", info.Tick, steps, context.Cause(ctx)))
		}
		if time.Since(lastMove) > o.wait {
			return fail(fmt.Errorf("no new tick for %v", o.wait))
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// spotCheck reads the first two values of step s of every dataset, or, in
// layouts of more than maxSpot datasets, of the last one and one chosen by
// the step: reading 10,000 datasets a step is a verifier's job (preader
// watch), not a probe's.
func spotCheck(r *coord.Reader, layout []workload.Dataset, s uint64) error {
	data := layout[:len(layout)-1] // the last is workload.TimePath
	if len(data) > maxSpot {
		data = []workload.Dataset{data[len(data)-1], data[(s*7919)%uint64(len(data))]}
	}
	for _, d := range data {
		if err := job.CheckSlab(r, d, s, d.SpotSlab(s, 2)); err != nil {
			return err
		}
	}
	return nil
}

// maxSpot is the most datasets spotCheck reads for one step.
const maxSpot = 16

// latency is the time from step s's publication time to adopted, in ms.
func latency(r *coord.Reader, s uint64, adopted time.Time) (float64, error) {
	v, err := r.Dataset(workload.TimePath)
	if err != nil {
		return 0, err
	}
	var b [8]byte
	if err := v.ReadSlab([]uint64{s}, []uint64{1}, b[:]); err != nil {
		return 0, err
	}
	return float64(adopted.UnixNano()-int64(binary.LittleEndian.Uint64(b[:]))) / 1e6, nil
}
