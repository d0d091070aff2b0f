package job

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"pwstore/collective"
	"pwstore/coord"
	"pwstore/internal/tool/stats"
	"pwstore/internal/tool/workload"
)

// WatchTick is printed (with --json) for every tick a watcher adopts.
type WatchTick struct {
	Tick       uint64  `json:"tick"`
	Steps      int     `json:"steps"`
	LatencyMS  float64 `json:"latency_ms"`
	WriterTick uint64  `json:"writer_tick"` // the writer's tick right after adoption: visibility in ticks
	// ReaderTicks counts this reader's Tick calls so far, this one
	// included: with WriterTick it measures visibility in the reader's own
	// ticks, which does not depend on how the processes are scheduled.
	ReaderTicks int `json:"reader_ticks"`
	// PublishedMS: from the writer's publication of this tick (the time
	// in its metadata header) to adoption - the reader's share of the
	// latency (its wait for the announcement or its poll, and its tick).
	PublishedMS float64 `json:"published_ms,omitempty"`
}

// WatchSummary is the watcher's closing line (--json).
type WatchSummary struct {
	Summary           bool    `json:"summary"`
	Ranks             int     `json:"ranks"`
	Ticks             int     `json:"ticks"`
	SnapshotsVerified int     `json:"snapshots_verified"`
	Steps             int     `json:"steps"`
	LatP50            float64 `json:"lat_ms_p50"`
	LatP99            float64 `json:"lat_ms_p99"`
	LatMax            float64 `json:"lat_ms_max"`
	// PubP50, PubP99: WatchTick.PublishedMS over the ticks adopted.
	PubP50 float64 `json:"pub_ms_p50,omitempty"`
	PubP99 float64 `json:"pub_ms_p99,omitempty"`
	// Unverified counts the steps this rank skipped to catch up: when it
	// is late (half of max_lag behind, or of the writer's lag window), it
	// verifies only the newest new step, rather than fall behind and stop.
	Unverified int    `json:"steps_unverified"`
	Errors     int    `json:"errors"`
	Error      string `json:"error,omitempty"`
}

// WatchOptions configure Watch.
type WatchOptions struct {
	Config  coord.Config  // Comm set for a collective reader
	Timeout time.Duration // wait for the file, and for progress, at most this long
	Poll    time.Duration // pause between ticks without announcements
	// Fallback: with tick announcements (Config.Announce), the longest
	// wait for one before ticking anyway (default DefaultFallback), so
	// that a lost announcement costs at most this much latency.
	Fallback time.Duration
	OnTick   func(WatchTick)
	// FullEvery > 0 adopts every FullEvery-th tick from the full index
	// instead of the delta (a check of both paths).
	FullEvery int
	// AfterTick, if set, runs on every rank right after each tick, before
	// the snapshot is verified; an error stops the watch.
	AfterTick func(r *coord.Reader, info coord.TickInfo) error
}

// DefaultFallback is WatchOptions.Fallback's default: the default tick.
const DefaultFallback = coord.DefaultTickLen

// watcher follows one file.
type watcher struct {
	r       *coord.Reader
	comm    collective.Comm
	rank    int
	size    int
	layout  []workload.Dataset
	data    []workload.Dataset // the layout but the time dataset (wall-clock values)
	total   int                // steps the writer will write
	shown   int                // complete steps in the adopted snapshot: their latency is measured
	seen    int                // steps verified: step seen is the next
	upto    int                // the batch being verified: steps [seen, upto)
	old     int                // and an older step verified again with it (recheck), or seen
	part    int                // datasets of the batch verified so far
	batch   int                // steps verified together (verifyBytes): 1, or more with datasets split across ranks
	ext     int                // datasets whose extent is checked in this pass (verify)
	rows    []uint64           // rows seen per dataset: extents never shrink
	recheck bool               // an older step is to be verified again (once per snapshot)
	lat     []float64
	pub     []float64 // WatchTick.PublishedMS of the ticks adopted (rank 0)
	sum     WatchSummary
	onTick  func(WatchTick)
	timeout time.Duration

	fullEvery int
	afterTick func(*coord.Reader, coord.TickInfo) error
	buf       []byte // read buffer of the checks, reused (a plane is 4 MB)

	wait   time.Duration // longest pause between ticks: the poll, or the fallback with announcements
	ticked time.Time     // when the last tick ran
	peek   time.Duration // with announcements: how often a busy watcher reads the writer's tick itself (busyPeek)
	peeked time.Time     // when it last did
}

// busyPeek: how often a watcher with announcements that is verifying reads
// the writer's tick in the metadata file's header (one 1 KiB read) to
// adopt a newer tick at once. An announcement needs the NATS server's
// process and then this one's network thread to be scheduled, which a
// machine whose cores the writer and this verification keep busy delays
// by milliseconds; a watcher that is running pays one read. An idle one
// still sleeps until told. Without announcements a watcher ticks every
// poll, busy or not: its cadence is the poll's.
const busyPeek = 200 * time.Microsecond

// Watch follows path with a reader (one rank of a collective reader when
// o.Config.Comm is set) until its writer closes, verifying every snapshot
// it adopts: extents never shrink, every complete step holds the values
// the workload wrote. It returns an error on the first violation, when the
// writer is gone, or when nothing progresses for o.Timeout.
func Watch(path string, o WatchOptions) (WatchSummary, error) {
	cfg := o.Config
	cfg.ManualTicks = true
	cfg.OpenWait = o.Timeout
	r, err := coord.OpenReader(path, cfg)
	if err != nil {
		return WatchSummary{Summary: true, Errors: 1, Error: err.Error()}, err
	}
	defer r.Close()
	w := &watcher{r: r, comm: cfg.Comm, size: 1, onTick: o.OnTick, timeout: o.Timeout, fullEvery: o.FullEvery, afterTick: o.AfterTick}
	if w.comm != nil {
		w.rank, w.size = w.comm.Rank(), w.comm.Size()
	}
	w.sum = WatchSummary{Summary: true, Ranks: w.size}
	wait := o.Poll
	if r.Announced() {
		wait = o.Fallback
		if wait <= 0 {
			wait = DefaultFallback
		}
		w.peek = busyPeek
	}
	w.wait = wait
	err = w.run()
	w.sum.LatP50, w.sum.LatP99 = stats.Percentile(w.lat, 50), stats.Percentile(w.lat, 99)
	if len(w.pub) > 0 {
		w.sum.PubP50, w.sum.PubP99 = stats.Percentile(w.pub, 50), stats.Percentile(w.pub, 99)
	}
	for _, l := range w.lat {
		w.sum.LatMax = max(w.sum.LatMax, l)
	}
	w.sum.Steps = w.seen
	if err != nil {
		w.sum.Errors++
		w.sum.Error = err.Error()
	}
	return w.sum, err
}

// run ticks, verifies and waits - for an announcement, or at most w.wait -
// until the writer closes. A one-rank watcher whose verification takes
// longer than w.wait, or that hears of a newer tick meanwhile, ticks first
// (so that its latency is not the time verification takes, and it never
// lags far behind the writer) and then goes on where it stopped.
func (w *watcher) run() error {
	lastMove := time.Now()
	for n := 1; ; n++ {
		tick := w.r.Tick
		if w.fullEvery > 0 && n%w.fullEvery == 0 {
			tick = w.r.TickFull
		}
		info, err := tick()
		if err != nil {
			return err
		}
		w.ticked = time.Now()
		if w.afterTick != nil {
			if err := w.afterTick(w.r, info); err != nil {
				return err
			}
		}
		adopted := time.Now()
		var writerTick uint64
		var pub float64
		if info.Changed {
			lastMove = adopted
			if w.onTick != nil && w.rank == 0 {
				lag, _ := w.r.Lag()
				writerTick = info.Tick + lag
			}
			if w.rank == 0 && !info.Published.IsZero() {
				pub = float64(adopted.Sub(info.Published)) / 1e6
				w.pub = append(w.pub, pub)
			}
		}
		steps, lat, verr := w.shown, 0.0, error(nil)
		if info.Changed || w.layout == nil {
			steps, lat, verr = w.adopted(adopted)
		}
		busy := false
		if verr == nil {
			// After the writer closed there is nothing newer to adopt.
			busy, verr = w.verify(w.comm == nil && !info.Ended)
		}
		stop := 0
		if verr == nil && info.Ended {
			stop = 1
			if w.layout == nil || steps < w.total {
				verr = fmt.Errorf("writer closed after %d of %d steps", steps, w.total)
			}
		}
		if verr == nil && !info.Ended && time.Since(lastMove) > w.timeout {
			verr = fmt.Errorf("no new tick for %v", w.timeout)
		}
		if err := w.agree(&verr, &stop); err != nil {
			return err
		}
		if verr != nil {
			return verr
		}
		if !busy {
			w.sum.SnapshotsVerified++
		}
		if info.Changed {
			w.sum.Ticks++
			if w.onTick != nil && w.rank == 0 {
				w.onTick(WatchTick{Tick: info.Tick, Steps: steps, LatencyMS: lat, WriterTick: writerTick, ReaderTicks: n, PublishedMS: pub})
			}
		}
		if stop == 1 {
			return nil
		}
		if !busy {
			w.r.WaitTick(context.Background(), w.wait)
		}
	}
}

// agree makes every rank of a collective reader stop together: if any rank
// found a violation, all fail.
func (w *watcher) agree(verr *error, stop *int) error {
	if w.comm == nil {
		return nil
	}
	bad := int64(0)
	if *verr != nil {
		bad = 1
	}
	got, err := w.comm.AllreduceInt64(context.Background(), collective.Max, []int64{bad, int64(*stop)})
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	if got[0] > 0 && *verr == nil {
		*verr = errors.New("another reader rank found a violation")
	}
	*stop = int(got[1])
	return nil
}

// adopted checks what a tick adopted - the complete steps never go back -
// and returns the complete steps and the write-to-visible latency (ms) of
// the newest new step (rank 0).
func (w *watcher) adopted(adopted time.Time) (int, float64, error) {
	if w.layout == nil {
		v, err := w.r.Dataset(workload.TimePath)
		if errors.Is(err, coord.ErrNotFound) {
			return 0, 0, nil // the writer has not created its datasets yet
		}
		if err != nil {
			return 0, 0, err
		}
		// The writer sets the step counter after the parameters: until
		// then a tick may have published only part of its setup.
		if _, ok, err := v.Attr(workload.StepsAttr); err != nil || !ok {
			return 0, 0, err
		}
		p, total, err := paramsOf(v)
		if err != nil {
			return 0, 0, err
		}
		w.setLayout(p.Defaults().Layout(1))
		w.total = total
	}
	tv, err := w.r.Dataset(workload.TimePath)
	if err != nil {
		return 0, 0, err
	}
	val, ok, err := tv.Attr(workload.StepsAttr)
	if err != nil {
		return 0, 0, err
	}
	n, isInt := val.Int()
	if !ok || !isInt || n < 0 || int(n) > w.total {
		return 0, 0, fmt.Errorf("%s: bad %s attribute", workload.TimePath, workload.StepsAttr)
	}
	steps := int(n)
	if steps < w.shown {
		return 0, 0, fmt.Errorf("complete steps went back from %d to %d", w.shown, steps)
	}
	// Latency first: it ends at adoption, and the checks below read.
	var lat float64
	if w.rank == 0 {
		for s := w.shown; s < steps; s++ {
			l, err := w.latency(tv, uint64(s), adopted)
			if err != nil {
				return 0, 0, err
			}
			w.lat = append(w.lat, l)
			lat = l
		}
	}
	w.shown, w.recheck = steps, true
	if w.ext == len(w.layout) {
		w.ext = 0 // check every extent again in this snapshot (verify)
	}
	return steps, lat, nil
}

// checkExtent checks dataset i's extent in the adopted snapshot: it never
// shrinks and holds every complete step.
func (w *watcher) checkExtent(i int) error {
	d := w.layout[i]
	v, err := w.r.Dataset(d.Path)
	if err != nil {
		return err
	}
	shape, err := v.Shape()
	if err != nil {
		return err
	}
	if shape[0] < w.rows[i] {
		return fmt.Errorf("%s: extent shrank from %d to %d rows", d.Path, w.rows[i], shape[0])
	}
	if shape[0] < uint64(w.shown)*d.Rows {
		return fmt.Errorf("%s: %d rows for %d complete steps", d.Path, shape[0], w.shown)
	}
	w.rows[i] = shape[0]
	return nil
}

// verify checks the adopted snapshot: every dataset's extent, then the
// steps adopted since the last verify in full, and one random older step
// again after each new snapshot, split across ranks (setLayout): in
// batches, the older step read with a batch where it can be. If verifying
// lets the reader late (half of what the writer keeps behind), the newest
// step is only spot-checked and the rest counted as unverified, so that the
// watcher catches up instead of falling behind the oldest tick and failing.
// With interruptible it returns busy before a dataset - after at least
// one, so that it progresses however often ticks come - once a newer tick
// is announced or the next tick is due, to adopt it and go on from where it
// stopped: a complete step holds the same values in every later snapshot,
// and an extent checked in a later one is checked against more steps.
func (w *watcher) verify(interruptible bool) (busy bool, err error) {
	done := 0
	stop := func() bool {
		return interruptible && done > 0 && (w.r.News() || time.Since(w.ticked) >= w.wait || w.newer())
	}
	for ; w.ext < len(w.layout); w.ext++ {
		if !w.checks(w.ext) {
			continue
		}
		if stop() {
			return true, nil
		}
		if err := w.checkExtent(w.ext); err != nil {
			return false, err
		}
		done++
	}
	for w.seen < w.shown {
		if w.part == 0 {
			if w.late() {
				w.sum.Unverified += w.shown - w.seen
				w.seen = w.shown
				return false, w.spotCheck(uint64(w.shown - 1))
			}
			w.upto = min(w.shown, w.seen+w.batch)
			if w.batch == 1 && w.seen%w.size != w.rank {
				w.seen++
				continue
			}
			w.old = w.seen
			if w.batch > 1 && w.recheck && w.seen > 0 {
				w.old = rand.IntN(w.seen) // verified again with the batch
			}
		}
		for ; w.part < len(w.data); w.part++ {
			if !w.checks(w.part) {
				continue
			}
			if stop() {
				return true, nil
			}
			if err := w.checkSteps(w.data[w.part], uint64(w.old), uint64(w.seen), uint64(w.upto)); err != nil {
				return false, err
			}
			done++
		}
		if w.old < w.seen {
			w.recheck = false
		}
		w.seen, w.part = w.upto, 0
	}
	if w.seen == 0 || !w.recheck || w.late() {
		return false, nil
	}
	s := uint64(rand.IntN(w.seen))
	for i, d := range w.data {
		if !w.checks(i) {
			continue
		}
		if stop() {
			return true, nil // another older step after the next tick
		}
		if err := w.checkSteps(d, s, s, s+1); err != nil {
			return false, err
		}
		done++
	}
	w.recheck = false
	return false, nil
}

// newer reports whether the writer's header names a tick newer than the
// adopted one, read at most every w.peek (never without announcements). A
// failed read says no: the next Tick reports what is wrong.
func (w *watcher) newer() bool {
	if w.peek == 0 || time.Since(w.peeked) < w.peek {
		return false
	}
	w.peeked = time.Now()
	lag, err := w.r.Lag()
	return err == nil && lag > 0
}

// setLayout sets the layout of the workload being followed, and how the
// steps are verified: steps whose data (all datasets) is small are read
// verifyBytes at a time, a dataset's steps in one read, with each rank
// checking every step of its share of the datasets; larger steps are
// verified one at a time, each rank checking its share of the steps, so
// that a few large datasets keep every rank busy. A round robin's
// datasets gain a read of a batch where they cost one of every element
// (a pread, its index lookups and its check).
func (w *watcher) setLayout(layout []workload.Dataset) {
	w.layout = layout
	w.rows = make([]uint64, len(layout))
	var step uint64
	for _, d := range layout {
		if d.Path != workload.TimePath {
			w.data = append(w.data, d)
			step += d.StepElems() * uint64(d.DType.Size())
		}
	}
	w.batch = int(max(1, verifyBytes/max(step, 1)))
}

// verifyBytes is the most data a batch of steps holds, all datasets
// together (setLayout).
const verifyBytes = 4 << 20

// checks reports whether this rank verifies dataset i (of the layout's
// extents or of its data): all of them when steps are verified one at a
// time, its share when in batches.
func (w *watcher) checks(i int) bool { return w.batch == 1 || i%w.size == w.rank }

// late reports whether the reader is in the older half of the ticks the
// writer lets a reader be on (half of max_lag behind with ticks alone).
func (w *watcher) late() bool {
	late, err := w.r.Late()
	return err == nil && late
}

// spotCheck verifies the first elements of step s of every dataset.
func (w *watcher) spotCheck(s uint64) error {
	for _, d := range w.data {
		if err := checkSlab(w.r, d, s, d.SpotSlab(s, 64), &w.buf); err != nil {
			return err
		}
	}
	return nil
}

// checkSteps verifies every element of steps [from, to) of d, read at
// once, and of step old too if old < from: in the same read if the steps
// between are few (mergeBytes).
func (w *watcher) checkSteps(d workload.Dataset, old, from, to uint64) error {
	n := d.StepElems() * uint64(d.DType.Size())
	if old < from && (to-old)*n > mergeBytes {
		if err := w.checkSteps(d, old, old, old+1); err != nil {
			return err
		}
		old = from
	}
	lo := min(old, from)
	all, _ := d.RankSlab(lo, 0, 1)
	all.Count[0] *= to - lo
	if err := readSlab(w.r, d, all, &w.buf); err != nil {
		return err
	}
	step, _ := d.RankSlab(lo, 0, 1)
	check := func(s uint64) error {
		step.Start[0] = s * d.Rows
		k := (s - lo) * n
		return d.CheckSlab(w.buf[k:k+n], s, step)
	}
	if old < from {
		if err := check(old); err != nil {
			return err
		}
	}
	for s := from; s < to; s++ {
		if err := check(s); err != nil {
			return err
		}
	}
	return nil
}

// mergeBytes: an older step verified again with a batch is read with it
// if the read then spans at most this many bytes of the dataset.
const mergeBytes = 64 << 10

// CheckSlab reads slab sl of step s of d through r and compares it with
// the values the workload wrote.
func CheckSlab(r *coord.Reader, d workload.Dataset, s uint64, sl workload.Slab) error {
	var buf []byte
	return checkSlab(r, d, s, sl, &buf)
}

// checkSlab is CheckSlab reading into *buf, grown as needed.
func checkSlab(r *coord.Reader, d workload.Dataset, s uint64, sl workload.Slab, buf *[]byte) error {
	if err := readSlab(r, d, sl, buf); err != nil {
		return err
	}
	return d.CheckSlab(*buf, s, sl)
}

// readSlab reads slab sl of d through r into *buf, grown as needed and cut
// to the slab's bytes.
func readSlab(r *coord.Reader, d workload.Dataset, sl workload.Slab, buf *[]byte) error {
	v, err := r.Dataset(d.Path)
	if err != nil {
		return err
	}
	n := sl.Elems() * uint64(d.DType.Size())
	if uint64(cap(*buf)) < n {
		*buf = make([]byte, n)
	}
	*buf = (*buf)[:n]
	return v.ReadSlab(sl.Start, sl.Count, *buf)
}

// latency is the time from step s's recorded publication to adoption.
func (w *watcher) latency(tv *coord.View, s uint64, adopted time.Time) (float64, error) {
	var b [8]byte
	if err := tv.ReadSlab([]uint64{s}, []uint64{1}, b[:]); err != nil {
		return 0, err
	}
	ns := int64(binary.LittleEndian.Uint64(b[:]))
	if ns <= 0 {
		return 0, fmt.Errorf("%s: step %d has no publication time", workload.TimePath, s)
	}
	return float64(adopted.UnixNano()-ns) / 1e6, nil
}
