// Package colltick measures the collective reader tick (DESIGN section 13):
// M reader ranks, goroutines of one process each with its own NATS connection
// to an embedded server on loopback, adopt a tick whose index delta is about
// D entries. The time to adopt runs from the moment every rank calls Tick to
// the moment the last rank returns: rank 0 loads the new index from the
// metadata file, broadcasts the delta, and every rank applies it.
//
// The writer (same process, manual ticks) sets an attribute of K datasets
// per tick, which changes each one's header page (an append would not: the
// shapes of hundreds of datasets share an extent-table page; each header
// has a page of its own, padded out of the shared header blocks); K is
// calibrated so the metadata file's index changes by about D entries per
// tick, and the delta actually published is measured on every tick with
// mdfile.Diff and reported.
package colltick

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"pwstore/collective"
	"pwstore/coord"
	"pwstore/internal/infra/natsd"
	"pwstore/internal/tool/stats"
	"pwstore/mdfile"
	"pwstore/vfs"
)

// Result is one measurement.
type Result struct {
	Ranks    int     `json:"ranks"`
	Target   int     `json:"target_delta"`     // index entries asked for
	Delta    float64 `json:"delta_mean"`       // index entries changed per tick, measured
	DeltaMin int     `json:"delta_min"`        // smallest measured delta
	DeltaMax int     `json:"delta_max"`        // largest measured delta
	Datasets int     `json:"datasets_touched"` // K: datasets appended to per tick
	Entries  int     `json:"index_entries"`    // index size at the end
	Iters    int     `json:"iters"`
	P50      float64 `json:"p50_ms"`
	P99      float64 `json:"p99_ms"`
	Max      float64 `json:"max_ms"`
	Rank0P50 float64 `json:"rank0_p50_ms"` // rank 0's own Tick call, for comparison
	// CPU is the process's CPU time (user+sys: every rank, the NATS
	// server, the Go runtime) from the start of a tick to its last rank's
	// return, the median over the ticks: on a machine shared with other
	// work it moves less than the wall time.
	CPU float64 `json:"cpu_p50_ms"`
}

// Options size one measurement.
type Options struct {
	Dir    string // where the data and metadata files go (a fresh directory)
	Ranks  int    // reader ranks (>= 1)
	Delta  int    // index entries to change per tick (>= 1)
	Iters  int    // measured ticks (default 50)
	Warmup int    // ticks before measuring, also used to calibrate (default 5)
}

// spare is how many datasets Run creates per index entry asked for: an
// append usually changes one entry or more, but datasets sharing a page
// change fewer, and calibration may then touch more datasets than entries.
const spare = 4

// Run measures the collective tick with o.Ranks reader ranks.
func Run(ctx context.Context, o Options) (Result, error) {
	if o.Ranks < 1 || o.Delta < 1 {
		return Result{}, fmt.Errorf("colltick: ranks and delta must be at least 1 (got %d, %d)", o.Ranks, o.Delta)
	}
	if o.Iters <= 0 {
		o.Iters = 50
	}
	if o.Warmup <= 0 {
		o.Warmup = 5
	}
	path := filepath.Join(o.Dir, fmt.Sprintf("colltick-%d-%d.pw", o.Ranks, o.Delta))
	w, err := coord.Create(path, coord.Config{ManualTicks: true, MaxLag: 10})
	if err != nil {
		return Result{}, fmt.Errorf("colltick: %w", err)
	}
	wr := &writer{w: w}
	defer wr.close()
	if err := wr.create(o.Delta * spare); err != nil {
		return Result{}, err
	}
	if err := wr.tick(len(wr.ds)); err != nil {
		return Result{}, err
	}
	md, err := mdfile.Open(vfs.OS, path+".md", mdfile.ReaderOptions{})
	if err != nil {
		return Result{}, fmt.Errorf("colltick: %w", err)
	}
	defer md.Close()
	prev, err := md.Load()
	if err != nil {
		return Result{}, fmt.Errorf("colltick: %w", err)
	}
	delta := func() (int, error) {
		cur, err := md.Load()
		if err != nil {
			return 0, fmt.Errorf("colltick: %w", err)
		}
		d := mdfile.Diff(prev, cur)
		prev = cur
		return len(d.Added) + len(d.Changed) + len(d.Removed), nil
	}

	rs, err := openReaders(ctx, path, o.Ranks)
	if err != nil {
		return Result{}, err
	}
	defer rs.close()

	// Warm up and calibrate K: touch k datasets, measure the delta, scale.
	k := o.Delta
	for range o.Warmup {
		if err := wr.tick(k); err != nil {
			return Result{}, err
		}
		d, err := delta()
		if err != nil {
			return Result{}, err
		}
		if _, _, err := rs.tick(); err != nil {
			return Result{}, err
		}
		if d > 0 {
			k = min(len(wr.ds), max(1, (k*o.Delta+d/2)/d))
		}
	}

	res := Result{Ranks: o.Ranks, Target: o.Delta, Datasets: k, Iters: o.Iters, DeltaMin: -1}
	var all, zero, cpu []float64
	sum := 0
	for range o.Iters {
		if err := ctx.Err(); err != nil {
			return Result{}, err
		}
		if err := wr.tick(k); err != nil {
			return Result{}, err
		}
		d, err := delta()
		if err != nil {
			return Result{}, err
		}
		sum += d
		if res.DeltaMin < 0 || d < res.DeltaMin {
			res.DeltaMin = d
		}
		res.DeltaMax = max(res.DeltaMax, d)
		c0, _ := stats.CPU() // getrusage of this process does not fail
		took, took0, err := rs.tick()
		if err != nil {
			return Result{}, err
		}
		c1, _ := stats.CPU()
		cpu = append(cpu, ms(c1-c0))
		all = append(all, ms(took))
		zero = append(zero, ms(took0))
	}
	if err := rs.agree(); err != nil {
		return Result{}, err
	}
	res.Delta = float64(sum) / float64(o.Iters)
	res.Entries = prev.Len()
	res.P50, res.P99, res.Max = stats.Percentile(all, 50), stats.Percentile(all, 99), slices.Max(all)
	res.Rank0P50 = stats.Percentile(zero, 50)
	res.CPU = stats.Percentile(cpu, 50)
	return res, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// writer changes datasets' headers, one tick at a time.
type writer struct {
	w     *coord.Writer
	ds    []*coord.Dataset
	ticks int64 // ends of tick so far: the value of the attribute set
	next  int   // first dataset the next tick touches (round robin)
}

// create makes n datasets whose headers have pages of their own: a page
// of padding keeps each out of the header blocks that pack small headers
// dozens to a page, so that touching a dataset changes one index entry.
func (wr *writer) create(n int) error {
	pad := coord.StringValue(strings.Repeat("p", coord.DefaultPageSize))
	for i := range n {
		d, err := wr.w.CreateDataset(fmt.Sprintf("/d%06d", i), coord.Spec{
			Type: coord.Int32, Shape: []uint64{0}, MaxShape: []uint64{coord.Unlimited}, Chunk: []uint64{1024},
		})
		if err == nil {
			err = d.SetAttr("pad", pad)
		}
		if err != nil {
			return fmt.Errorf("colltick: %w", err)
		}
		wr.ds = append(wr.ds, d)
	}
	return nil
}

// tick sets the attribute "tick" of k datasets (round robin over all of
// them), changing each one's header page, and ends the tick.
func (wr *writer) tick(k int) error {
	wr.ticks++
	for range k {
		if err := wr.ds[wr.next].SetAttr("tick", coord.IntValue(wr.ticks)); err != nil {
			return fmt.Errorf("colltick: %w", err)
		}
		wr.next = (wr.next + 1) % len(wr.ds)
	}
	if err := wr.w.EndTick(); err != nil {
		return fmt.Errorf("colltick: end of tick: %w", err)
	}
	return nil
}

func (wr *writer) close() { wr.w.Close() }

// readers are the reader ranks: each goroutine owns its communicator and
// reader, and ticks when told to.
type readers struct {
	srv   *natsd.Server
	rs    []*coord.Reader
	comms []collective.Comm
	start []chan struct{} // one per rank: tick now; closed: stop
	done  chan tickDone   // every rank's answer to one start
	wg    sync.WaitGroup  // the rank goroutines
}

// tickDone is one rank's answer to one tick.
type tickDone struct {
	rank int
	end  time.Time
	took time.Duration
	err  error
}

func openReaders(ctx context.Context, path string, n int) (*readers, error) {
	srv, err := natsd.Start(natsd.Options{})
	if err != nil {
		return nil, fmt.Errorf("colltick: nats server: %w", err)
	}
	rs := &readers{srv: srv, done: make(chan tickDone, n), rs: make([]*coord.Reader, n), comms: make([]collective.Comm, n)}
	errs := make([]error, n)
	var open sync.WaitGroup
	for rank := range n {
		open.Go(func() {
			comm, err := collective.Open(ctx, collective.Config{
				Rank: rank, Size: n, Job: "colltick", URL: srv.URL(), Timeout: time.Minute,
			})
			if err != nil {
				errs[rank] = err
				return
			}
			rs.comms[rank] = comm
			r, err := coord.OpenReader(path, coord.Config{Comm: comm, ManualTicks: true, WriterGone: 10 * time.Minute})
			if err != nil {
				comm.Abort(err.Error())
				errs[rank] = err
				return
			}
			rs.rs[rank] = r
		})
	}
	open.Wait()
	if err := errors.Join(errs...); err != nil {
		rs.release()
		return nil, fmt.Errorf("colltick: open readers: %w", err)
	}
	rs.start = make([]chan struct{}, n)
	for rank := range n {
		rs.start[rank] = make(chan struct{})
		rs.wg.Go(func() { rs.loop(rank) })
	}
	return rs, nil
}

// loop is rank's goroutine: one Tick per start signal, until start closes.
func (rs *readers) loop(rank int) {
	for range rs.start[rank] {
		t0 := time.Now()
		_, err := rs.rs[rank].Tick()
		end := time.Now()
		rs.done <- tickDone{rank: rank, end: end, took: end.Sub(t0), err: err}
	}
}

// tick makes every rank tick at once and returns the time until the last
// rank adopted the new tick, and rank 0's own Tick time.
func (rs *readers) tick() (all, rank0 time.Duration, err error) {
	t0 := time.Now()
	for _, c := range rs.start {
		c <- struct{}{}
	}
	var last time.Time
	var errs []error
	for range rs.start {
		d := <-rs.done
		if d.err != nil {
			errs = append(errs, fmt.Errorf("reader rank %d: %w", d.rank, d.err))
		}
		if d.end.After(last) {
			last = d.end
		}
		if d.rank == 0 {
			rank0 = d.took
		}
	}
	if err := errors.Join(errs...); err != nil {
		return 0, 0, fmt.Errorf("colltick: %w", err)
	}
	return last.Sub(t0), rank0, nil
}

// agree checks that every rank adopted the same index.
func (rs *readers) agree() error {
	wantTick, want := rs.rs[0].IndexDigest()
	for rank, r := range rs.rs {
		if tick, got := r.IndexDigest(); tick != wantTick || got != want {
			return fmt.Errorf("colltick: reader rank %d holds tick %d index digest %x, rank 0 tick %d %x", rank, tick, got, wantTick, want)
		}
	}
	return nil
}

// close stops the rank goroutines, then closes readers, communicators and
// the server.
func (rs *readers) close() {
	for _, c := range rs.start {
		close(c)
	}
	rs.wg.Wait()
	rs.release()
}

// release closes what openReaders opened. A collective reader's Close is
// collective, so the ranks close together.
func (rs *readers) release() {
	var wg sync.WaitGroup
	for _, r := range rs.rs {
		if r != nil {
			wg.Go(func() { r.Close() })
		}
	}
	wg.Wait()
	for _, c := range rs.comms {
		if c != nil {
			c.Close()
		}
	}
	rs.srv.Shutdown()
}
