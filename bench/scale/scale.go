// Package scale measures what the collectives cost as the number of ranks
// grows (issue 16): N goroutine ranks, each with its own NATS connection to
// one embedded server on loopback, run each operation Iters times; the
// figures are the messages the server delivers per operation (its out_msgs
// counter, which does not depend on the machine's speed) and rank 0's
// p50/p99 time per operation.
//
// The operations: barrier, bcast (1 KiB from rank 0), gather and allgather
// (64 bytes per rank), allreduce (4 int64), a writer sync point (Sync of a
// parallel coord.Writer with manual ticks: digests and rank 0's decision),
// a writer end of tick (EndTick: a sync point that ends the tick, then a
// barrier), and the collective reader tick (Tick of N coord.Reader ranks
// following a one-rank writer).
package scale

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"pwstore/collective"
	"pwstore/coord"
	"pwstore/internal/infra/natsd"
	"pwstore/internal/tool/stats"
)

// Ops are the operations measured, in order.
var Ops = []string{"barrier", "bcast", "gather", "allgather", "allreduce", "sync-point", "end-of-tick", "reader-tick"}

// Result is one operation at one rank count.
type Result struct {
	Op    string  `json:"op"`
	Ranks int     `json:"ranks"`
	Iters int     `json:"iters"`
	Msgs  float64 `json:"msgs_per_op"` // server deliveries per operation
	PerN  float64 `json:"msgs_per_rank"`
	P50   float64 `json:"p50_ms"`
	P99   float64 `json:"p99_ms"`
}

// Options size a run.
type Options struct {
	Dir   string   // scratch directory for the coord files
	Ranks int      // goroutine ranks
	Iters int      // operations measured (default 20)
	Ops   []string // default Ops
}

// Run measures every operation of o with o.Ranks ranks.
func Run(ctx context.Context, o Options) ([]Result, error) {
	if o.Ranks < 2 {
		return nil, fmt.Errorf("scale: need at least 2 ranks, got %d", o.Ranks)
	}
	if o.Iters <= 0 {
		o.Iters = 20
	}
	if o.Ops == nil {
		o.Ops = Ops
	}
	srv, err := natsd.Start(natsd.Options{})
	if err != nil {
		return nil, err
	}
	defer srv.Shutdown()
	var out []Result
	for _, op := range o.Ops {
		r, err := runOp(ctx, srv, o, op)
		if err != nil {
			return out, fmt.Errorf("scale: %s, %d ranks: %w", op, o.Ranks, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// rankOp is one rank's operation, and its teardown.
type rankOp struct {
	do    func() error
	close func() error
}

func runOp(ctx context.Context, srv *natsd.Server, o Options, op string) (Result, error) {
	n := o.Ranks
	cfg := collective.Config{Job: "scale", Name: op, URL: srv.URL(), Size: n, Timeout: 2 * time.Minute, JoinTimeout: 3 * time.Minute}
	comms := make([]collective.Comm, n)
	errs := make([]error, n)
	each := func(f func(r int) error) error {
		var wg sync.WaitGroup
		for r := range n {
			wg.Go(func() { errs[r] = f(r) })
		}
		wg.Wait()
		return errors.Join(errs...)
	}
	defer func() {
		for _, c := range comms {
			if c != nil {
				c.Close()
			}
		}
	}()
	if err := each(func(r int) error {
		c := cfg
		c.Rank = r
		var err error
		comms[r], err = collective.Open(ctx, c)
		return err
	}); err != nil {
		return Result{}, err
	}
	ops := make([]rankOp, n)
	path := filepath.Join(o.Dir, op+fmt.Sprint(n)+".pw")
	var w *coord.Writer // the one-rank writer the readers follow
	if op == "reader-tick" {
		var err error
		if w, err = coord.Create(path, coord.Config{ManualTicks: true, CachePages: 256}); err != nil {
			return Result{}, err
		}
		defer w.Close()
	}
	if err := each(func(r int) error {
		var err error
		ops[r], err = prepare(op, comms[r], path)
		return err
	}); err != nil {
		return Result{}, err
	}
	defer each(func(r int) error { return ops[r].close() })

	lat := make([]time.Duration, 0, o.Iters)
	var msgs int64
	for range o.Iters + 1 { // the first, unmeasured, warms up
		if w != nil {
			if err := w.EndTick(); err != nil {
				return Result{}, err
			}
		}
		before := settle(srv)
		start := time.Now()
		if err := each(func(r int) error {
			err := ops[r].do()
			if r == 0 && len(lat) < cap(lat) {
				lat = append(lat, time.Since(start))
			}
			return err
		}); err != nil {
			return Result{}, err
		}
		msgs += settle(srv) - before
	}
	lat = lat[1:]
	ms := stats.Millis(lat)
	per := float64(msgs) / float64(o.Iters+1) // the warm-up costs messages like the others
	return Result{Op: op, Ranks: n, Iters: o.Iters, Msgs: per, PerN: per / float64(n),
		P50: stats.Percentile(ms, 50), P99: stats.Percentile(ms, 99)}, nil
}

// settle waits until the server's out_msgs stops moving (the last
// deliveries of an operation are counted when written out) and returns it.
func settle(srv *natsd.Server) int64 {
	v := srv.OutMsgs()
	for range 100 {
		time.Sleep(2 * time.Millisecond)
		w := srv.OutMsgs()
		if w == v {
			return v
		}
		v = w
	}
	return v
}

func prepare(op string, c collective.Comm, path string) (rankOp, error) {
	ctx := context.Background()
	none := func() error { return nil }
	small := make([]byte, 64)
	switch op {
	case "barrier":
		return rankOp{func() error { return c.Barrier(ctx) }, none}, nil
	case "bcast":
		data := make([]byte, 1024)
		return rankOp{func() error { _, err := c.Bcast(ctx, 0, data); return err }, none}, nil
	case "gather":
		return rankOp{func() error { _, err := c.Gather(ctx, 0, small); return err }, none}, nil
	case "allgather":
		return rankOp{func() error { _, err := c.Allgather(ctx, small); return err }, none}, nil
	case "allreduce":
		v := []int64{1, 2, 3, 4}
		return rankOp{func() error { _, err := c.AllreduceInt64(ctx, collective.Sum, v); return err }, none}, nil
	case "sync-point", "end-of-tick":
		w, err := coord.Create(path, coord.Config{ManualTicks: true, Comm: c, CachePages: 256})
		if err != nil {
			return rankOp{}, err
		}
		do := w.Sync
		if op == "end-of-tick" {
			do = w.EndTick
		}
		return rankOp{do, w.Close}, nil
	case "reader-tick":
		r, err := coord.OpenReader(path, coord.Config{Comm: c, CachePages: 256})
		if err != nil {
			return rankOp{}, err
		}
		return rankOp{func() error { _, err := r.Tick(); return err }, r.Close}, nil
	}
	return rankOp{}, fmt.Errorf("unknown operation %q", op)
}
