package coord

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"pwstore/mdfile"
	"pwstore/pagebuf"
	"pwstore/pfile"
	"pwstore/vfs"
)

// Writer is a SWMR writer: one process, or one rank of a parallel writer.
// Its methods are safe for concurrent use, but the collective ones (those
// that change metadata) must be called by every rank in the same order with
// the same arguments.
type Writer struct {
	cfg  Config
	path string
	log  *zap.Logger
	rank int
	size int

	// Lock order: mu, then publisher.mu, then statsMu. mu is held across
	// collective calls (a sync point waits for every rank), so nothing
	// that must answer promptly (Stats, Calls, the heartbeat) takes it
	// without TryLock.
	mu    sync.Mutex // guards every field below up to statsMu, and every call into data, pb and pf
	data  vfs.File
	pb    *pagebuf.Buffer
	pf    *pfile.File
	dsets map[string]*Dataset // handles handed out, by path
	calls atomic.Uint64       // collective calls made (written under mu, read by Calls without it)
	// The collective calls an Apply in progress has made, added to calls when
	// it returns: one atomic add per batch, not per append.
	batched uint64
	due     time.Time // when the open tick expires (zero: manual ticks)
	// dueTimer fires at due and stores the open tick's number + 1 in
	// expired: a call checks an atomic, not the clock (time.Now costs
	// about as much as a whole append on some virtual machines). It also
	// wakes the timer goroutine, which ends the tick if no call does: a
	// step made due early waits for no poll.
	dueTimer *time.Timer
	expired  atomic.Uint64
	wake     chan struct{} // one pending wake-up of the timer goroutine
	// Ends of tick caused by steps (Sync): at least MinTickInterval apart,
	// and at least three times as far apart as the last one took (stepDue).
	stepEnd  time.Time     // when the last one started
	stepCost time.Duration // how long the last one took, one rank's raw-data flush included (rank 0)
	stepNow  bool          // the tick ending now is a step's
	stepWait bool          // a step made the open tick due early: its end counts as one
	sync     syncState     // parallel writers only
	err      error         // sticky: after an I/O or collective failure the writer only closes
	done     bool          // Close has run
	final    bool          // the data file is closed: its raw data and last metadata are written
	fence    *fencedFile   // w.data: the data file, checked against fencing and cuts
	// pubs maps metadata-file ticks to the page buffer's (rank 0): each
	// metadata-file tick that published a page-buffer tick, from the last
	// one at or before the oldest tick a reader may be on. Heartbeats
	// publish metadata-file ticks of their own, so the numberings part.
	pubs []pubTick

	statsMu sync.Mutex  // guards stats; taken after mu, never held across a call
	stats   WriterStats // Pagebuf: as of the last Stats call that got mu

	pub *publisher // rank 0 only: the metadata file
	ann *announcer // rank 0 with Config.Announce: tick announcements

	closeOnce sync.Once
	closeErr  error         // the first Close's result, returned by every Close
	stop      chan struct{} // closed by Close: stops the timer goroutine
	stopped   chan struct{} // closed by the timer goroutine when it returns
}

// WriterStats are the figures a writer collects.
type WriterStats struct {
	Ticks    uint64          // ends of tick run by this rank
	EOT      []time.Duration // rank 0: duration of each end of tick
	MDMax    int64           // rank 0: largest metadata file size seen
	MDBytes  uint64          // rank 0: bytes ends of tick wrote to the metadata file
	Syncs    uint64          // sync points (parallel)
	Pagebuf  pagebuf.Stats
	LastTick uint64 // last tick published in the metadata file (rank 0)
}

// Create creates a new data file and its metadata file and returns their
// writer. With cfg.Comm, every rank calls Create; rank 0 creates the files.
// A data file or metadata file that exists already is ErrExists (on every
// rank).
func Create(path string, cfg Config) (*Writer, error) {
	return CreateContext(context.Background(), path, cfg)
}

// CreateContext is Create whose waits for the other ranks end when ctx is
// done.
func CreateContext(ctx context.Context, path string, cfg Config) (*Writer, error) {
	w, err := startWriter(ctx, path, cfg, true)
	return w, public(err)
}

// Open opens an existing, cleanly closed (or recovered) data file for SWMR
// writing. Pages already in the data file then follow the delayed-write
// rule, so readers of the file never see a message from the future.
func Open(path string, cfg Config) (*Writer, error) {
	return OpenContext(context.Background(), path, cfg)
}

// OpenContext is Open whose waits for the other ranks end when ctx is
// done.
func OpenContext(ctx context.Context, path string, cfg Config) (*Writer, error) {
	w, err := startWriter(ctx, path, cfg, false)
	return w, public(err)
}

func startWriter(ctx context.Context, path string, cfg Config, create bool) (*Writer, error) {
	cfg, err := cfg.writerDefaults(path)
	if err != nil {
		return nil, err
	}
	w := &Writer{cfg: cfg, path: path, log: cfg.Logger.With(zap.String("file", path)),
		rank: cfg.rank(), size: cfg.size(), dsets: map[string]*Dataset{}, wake: make(chan struct{}, 1)}
	// Rank 0 creates or checks the files, then tells the others what it found.
	var id [16]byte
	var ps int
	if w.size > 1 {
		// Before rank 0 touches a file, every rank must be of this job.
		var commErr error
		if err, commErr = w.sameFile(ctx, create); commErr != nil {
			w.abandon()
			return nil, commErr
		}
	}
	if w.rank == 0 && err == nil {
		id, ps, err = w.prepare(create)
	}
	if w.size > 1 {
		id, ps, err = w.shareStart(ctx, id, ps, err)
	}
	if err != nil {
		w.abandon()
		return nil, err
	}
	if err := w.openStack(create, id, ps); err != nil {
		w.abandon()
		return nil, err
	}
	if w.rank == 0 {
		w.ann = newAnnouncer(cfg.Announce, id, w.log)
	}
	// Publish at once so readers can open the file.
	w.mu.Lock()
	err = w.endTickLocked(ctx, "open")
	if err == nil && w.rank == 0 {
		// Put the superblock in the data file at once: readers check the
		// file identity against the metadata file's before they trust it.
		_, err = w.pb.Flush()
	}
	w.mu.Unlock()
	if err != nil {
		w.abandon()
		return nil, err
	}
	w.log.Info("file open", zap.String("role", "writer"), zap.Int("rank", w.rank), zap.Int("ranks", w.size),
		zap.Uint64("max_lag", cfg.MaxLag), zap.Duration("tick_len", cfg.TickLen), zap.Int("page_size", ps))
	if w.rank == 0 && cfg.TickLen > 0 {
		w.stop, w.stopped = make(chan struct{}), make(chan struct{})
		go w.timer()
	}
	return w, nil
}

// prepare runs on rank 0: it creates (or opens) the data file and creates
// the metadata file, and returns the file identity and page size.
func (w *Writer) prepare(create bool) (id [16]byte, ps int, err error) {
	fsys := w.cfg.FS
	takeover := false
	if _, err := fsys.Stat(w.cfg.MDPath); err == nil {
		if err := w.existingMD(); !errors.Is(err, errStaleMD) {
			if _, serr := fsys.Stat(w.path); create && serr == nil {
				// Whatever the metadata file says, the file to create exists.
				return id, 0, fmt.Errorf("create %s: file %w; %w", w.path, ErrExists, err)
			}
			return id, 0, err
		}
		takeover = true
	}
	if create {
		if _, err := rand.Read(id[:]); err != nil {
			return id, 0, fmt.Errorf("create %s: file id: %w", w.path, err)
		}
		data, err := fsys.Create(w.path)
		if errors.Is(err, fs.ErrExist) {
			return id, 0, fmt.Errorf("create %s: file %w (coord.Create makes only new files; coord.Open reopens one for writing)", w.path, ErrExists)
		}
		if err != nil {
			return id, 0, fmt.Errorf("create %s: %w", w.path, err)
		}
		w.data, ps = data, w.cfg.PageSize
		if err := w.lockData(); err != nil {
			fsys.Remove(w.path) // created above, still empty
			return id, 0, err
		}
		if w.cfg.Durable {
			if err := vfs.SyncDirOf(fsys, w.path); err != nil {
				return id, 0, fmt.Errorf("create %s: %w", w.path, err)
			}
		}
	} else {
		data, err := fsys.OpenRW(w.path)
		if err != nil {
			return id, 0, fmt.Errorf("open %s: %w", w.path, err)
		}
		w.data = data
		if err := w.lockData(); err != nil {
			return id, 0, err
		}
		sb, err := pfile.ReadSuperblock(data)
		if err == nil {
			err = pfile.CheckSize(data, sb) // before the metadata file is made
		}
		if err != nil {
			return id, 0, fmt.Errorf("open %s: %w", w.path, err)
		}
		id, ps = sb.ID, sb.PageSize
		w.cfg.PageSize = ps
	}
	w.pub, err = newPublisher(w.cfg, id, takeover, w.data, w.log)
	if err != nil {
		if create {
			fsys.Remove(w.path)
		}
		return id, 0, fmt.Errorf("%s: %w", w.path, err)
	}
	return id, ps, nil
}

// errStaleMD marks a metadata file left by a writer that closed cleanly or
// whose file was recovered: a new writer may take it over.
var errStaleMD = errors.New("stale metadata file")

// existingMD explains why an existing metadata file stops a new writer.
func (w *Writer) existingMD() error {
	r, err := mdfile.Open(w.cfg.FS, w.cfg.MDPath, mdfile.ReaderOptions{Logger: w.log, Wait: time.Millisecond})
	if err != nil {
		return fmt.Errorf("%s: metadata file %s exists and is unreadable (%v); if no writer runs, run `pwriter recover %s`: %w",
			w.path, w.cfg.MDPath, err, w.path, ErrExists)
	}
	defer r.Close()
	h := r.Current().Header
	if h.Status.Live() {
		return fmt.Errorf("%s: metadata file %s says a writer is %s (tick %d, heartbeat %s); if none runs, run `pwriter recover %s`: %w",
			w.path, w.cfg.MDPath, h.Status, h.Tick, h.Heartbeat.Format(time.RFC3339), w.path, ErrNeedsRecovery)
	}
	return errStaleMD
}

// sameFile gathers every rank's file and parameters on rank 0, which
// checks that they are its own: ranks of two jobs that share a job id (and
// so a communicator) must never write one file. The first result is rank
// 0's verdict (shared by shareStart), the second a failed gather.
func (w *Writer) sameFile(ctx context.Context, create bool) (mismatch, commErr error) {
	mine := w.identity(create)
	all, err := w.cfg.Comm.Gather(ctx, 0, []byte(strings.Join(mine, "\n")))
	if err != nil {
		return nil, fmt.Errorf("%s: start: %w", w.path, err)
	}
	for r, b := range all {
		theirs := strings.Split(string(b), "\n")
		for i := range mine {
			if i >= len(theirs) || theirs[i] != mine[i] {
				got := "nothing"
				if i < len(theirs) {
					got = theirs[i]
				}
				return fmt.Errorf("%s: rank %d was started with %s, rank 0 with %s: are two jobs running with one job id? %w",
					w.path, r, got, mine[i], ErrConfig), nil
			}
		}
	}
	return nil, nil
}

// identity is what every rank of a parallel writer must agree on.
func (w *Writer) identity(create bool) []string {
	c := w.cfg
	how := "open"
	if create {
		how = "create"
	}
	return []string{
		fmt.Sprintf("%s %q", how, w.path), fmt.Sprintf("metadata file %q", c.MDPath),
		fmt.Sprintf("page size %d", c.PageSize), fmt.Sprintf("max lag %d", c.MaxLag),
		fmt.Sprintf("tick length %v", c.TickLen), fmt.Sprintf("manual ticks %v", c.ManualTicks),
		fmt.Sprintf("cache pages %d", c.CachePages), fmt.Sprintf("sync bytes %d", c.SyncBytes),
		fmt.Sprintf("tick bytes %d", c.TickBytes), fmt.Sprintf("no raw flush %v", c.NoRawFlush),
		fmt.Sprintf("durable %v", c.Durable),
	}
}

// shareStart broadcasts rank 0's outcome (identity, page size, or error)
// so that every rank starts, or fails, together.
func (w *Writer) shareStart(ctx context.Context, id [16]byte, ps int, err error) ([16]byte, int, error) {
	msg := startMsg{ID: id, PageSize: ps}
	if err != nil {
		msg.Err, msg.Code = err.Error(), errCode(err)
	}
	got, berr := bcastMsg(ctx, w.cfg.Comm, 0, msg)
	switch {
	case berr != nil && err != nil:
		// Rank 0's own failure says more than the broadcast's (another
		// rank may abort on it before rank 0 hears its ack).
		return id, 0, err
	case berr != nil:
		return id, 0, fmt.Errorf("%s: start: %w", w.path, berr)
	}
	if got.Err != "" {
		if err != nil {
			return id, 0, err
		}
		return id, 0, remoteError(fmt.Sprintf("%s: rank 0: %s", w.path, got.Err), got.Code)
	}
	if w.rank != 0 {
		w.cfg.PageSize = got.PageSize
		data, err := w.cfg.FS.OpenRW(w.path)
		if err != nil {
			err = fmt.Errorf("rank %d: open %s: %w", w.rank, w.path, err)
			if errors.Is(err, fs.ErrNotExist) {
				return id, 0, w.startReason(ctx, err)
			}
			return id, 0, err
		}
		w.data = data
		if err := w.lockData(); err != nil {
			return id, 0, err
		}
	}
	return got.ID, got.PageSize, nil
}

// lockData takes this process's shared lock on the data file, held until
// the file is closed, so that recovery refuses the file while any writer
// process lives, stopped or not (Config.NoFileLock).
func (w *Writer) lockData() error {
	if w.cfg.NoFileLock {
		return nil
	}
	if _, err := vfs.Lock(w.data, false); err != nil {
		if errors.Is(err, vfs.ErrLocked) {
			return fmt.Errorf("rank %d: %s is being recovered (another process holds it exclusively): %w", w.rank, w.path, ErrNeedsRecovery)
		}
		return fmt.Errorf("rank %d: lock %s: %w", w.rank, w.path, err)
	}
	return nil
}

// reasonWait bounds how long a rank whose start failed waits to hear why
// rank 0 gave up.
const reasonWait = 2 * time.Second

// startReason returns the job's failure when it arrives within reasonWait,
// else local. The file rank 0 has just created or checked is missing: most
// likely rank 0 removed it, which it does with a file it created when the
// start fails after its broadcast (its own ack failed: say, a rank of
// another job with this job id was heard). The reason then is that
// failure, on its way to this rank, not the missing file.
func (w *Writer) startReason(ctx context.Context, local error) error {
	ctx, cancel := context.WithTimeout(ctx, reasonWait)
	defer cancel()
	err := w.cfg.Comm.Barrier(ctx)
	if err == nil || ctx.Err() != nil {
		return local
	}
	return fmt.Errorf("%s: start: %w (then %v)", w.path, err, local)
}

type startMsg struct {
	ID       [16]byte
	PageSize int
	Err      string // rank 0 failed: every rank fails with this
	Code     uint64 // the sentinels the failure wraps (errCode)
}

// openStack builds the page buffer and the data file on every rank.
func (w *Writer) openStack(create bool, id [16]byte, ps int) error {
	check := func() error { return w.checkPublished(id) }
	if w.rank == 0 {
		check = w.checkFiles
	}
	w.fence = &fencedFile{File: w.data, gap: w.cfg.WriterGone / 2, check: check, last: time.Now()}
	w.data = w.fence
	pb, err := pagebuf.New(pagebuf.Config{
		PageSize: ps, MaxPages: w.cfg.CachePages, Mode: pagebuf.SWMRWriter, MaxLag: w.cfg.MaxLag,
		TickBytesLimit: w.cfg.TickBytes, Leader: w.size > 1 && w.rank == 0, Follower: w.rank != 0,
		NoStream: w.size == 1,
	}, dataBackend{f: w.data, ps: int64(ps)})
	if err != nil {
		return fmt.Errorf("%s: page buffer: %w", w.path, err)
	}
	w.pb = pb
	opts := pfile.Options{PageSize: ps, ID: id, DeferReuse: true, RawCacheBytes: w.cfg.RawCacheBytes, DeferSeal: true, SoleWriter: w.size == 1}
	if create {
		w.pf, err = pfile.Create(pb, w.data, opts)
	} else {
		w.pf, err = pfile.Open(pb, w.data, opts)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", w.path, err)
	}
	pb.SetEvictHook(w.pf.Evicted)
	w.pf.SetEpoch(pb.Tick())
	// A size seen now is one the file cannot be below later unless cut:
	// it never shrinks while its writer runs.
	size, err := w.data.Size()
	if err != nil {
		return fmt.Errorf("%s: %w", w.path, err)
	}
	w.fence.setGrown(size)
	return nil
}

// abandon releases what a failed start opened.
func (w *Writer) abandon() {
	if w.pub != nil {
		w.pub.abandon()
	}
	if w.data != nil {
		w.data.Close()
	}
}

// Tick returns the writer's open tick.
func (w *Writer) Tick() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pb.Tick()
}

// Calls returns how many collective calls this rank has made: the call
// about to be made is number Calls()+1 (PublishInfo.Calls counts them too).
// It does not wait for a call in progress.
func (w *Writer) Calls() uint64 { return w.calls.Load() }

// Stats returns the writer's figures so far. It does not wait for a call
// in progress (a collective may wait long for the other ranks): Pagebuf is
// then as of the last Stats call made between calls.
func (w *Writer) Stats() WriterStats {
	refreshPagebuf(&w.mu, &w.statsMu, w.pb, &w.stats.Pagebuf)
	w.statsMu.Lock()
	s := w.stats
	s.EOT = append([]time.Duration(nil), s.EOT...)
	w.statsMu.Unlock()
	if w.pub != nil {
		s.LastTick = w.pub.lastTick()
	}
	return s
}

// refreshPagebuf copies pb's figures to *dst (guarded by statsMu) if mu,
// which guards pb, is free at once: Stats never waits for a call.
func refreshPagebuf(mu, statsMu *sync.Mutex, pb *pagebuf.Buffer, dst *pagebuf.Stats) {
	if !mu.TryLock() {
		return
	}
	defer mu.Unlock()
	s := pb.Stats()
	statsMu.Lock()
	*dst = s
	statsMu.Unlock()
}

// usable reports whether the writer may still be used; mu held.
func (w *Writer) usable() error {
	if w.done {
		return fmt.Errorf("%s: writer: %w", w.path, ErrClosed)
	}
	return w.err
}

// fail makes err sticky; mu held.
func (w *Writer) fail(err error) error {
	if w.err == nil {
		w.err = err
		w.log.Error("writer failed", zap.Error(err))
		if w.cfg.Comm != nil {
			w.cfg.Comm.Abort(err.Error())
		}
	}
	return err
}

// collective runs a metadata-changing call: end of tick on entry and exit
// for one rank, a sync point when due for many. name describes the call
// for the sync point's comparison; one rank never formats it.
func (w *Writer) collective(ctx context.Context, name func() string, fn func() error) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.enter(); err != nil {
		return public(err)
	}
	callErr := fn()
	w.calls.Add(1)
	if err := w.afterCall(ctx, name); err != nil {
		return public(err)
	}
	return public(callErr)
}

// independent runs a call that changes no metadata (raw data, reads).
func (w *Writer) independent(fn func() error) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.enter(); err != nil {
		return public(err)
	}
	if err := fn(); err != nil {
		return public(err)
	}
	return public(w.maybeEndTick())
}

// enter begins an API call: the writer must be usable, and an expired
// tick ends first; mu held.
func (w *Writer) enter() error {
	if err := w.usable(); err != nil {
		return err
	}
	return w.maybeEndTick()
}

// maybeEndTick ends the tick of a one-rank writer that has expired or
// passed its byte limit. Parallel writers end ticks only at sync points.
func (w *Writer) maybeEndTick() error {
	if w.size > 1 {
		return nil
	}
	if w.tickFull() || (!w.due.IsZero() && w.expired.Load() == w.pb.Tick()+1) {
		// One rank: the end of tick waits for no other rank.
		return w.endTickLocked(context.Background(), "expired")
	}
	return nil
}

// tickFull says the open tick changed Config.TickBytes of metadata,
// counting the objects pfile holds unsealed (one rank: a parallel writer
// seals after every collective call).
func (w *Writer) tickFull() bool {
	return w.pb.OverLimit() || w.pb.TickBytes()+int64(w.pf.DirtyPages())*int64(w.pf.PageSize()) >= w.cfg.TickBytes
}

// seal hands pfile's changed objects to the page buffer: before anything
// digests or publishes the page buffer's contents.
func (w *Writer) seal() error {
	if err := w.pf.Seal(); err != nil {
		return w.fail(fmt.Errorf("%s: seal metadata: %w", w.path, err))
	}
	return nil
}

// afterCall accounts a collective call and ends the tick or enters a sync
// point when due.
func (w *Writer) afterCall(ctx context.Context, name func() string) error {
	if w.size == 1 {
		return w.maybeEndTick()
	}
	return w.noteCall(ctx, name())
}

// EndTick ends the tick now: the changes made so far become visible to
// readers. Collective.
func (w *Writer) EndTick() error { return w.EndTickContext(context.Background()) }

// EndTickContext is EndTick whose waits for the other ranks end when ctx
// is done (the writer then fails: the ranks no longer agree).
func (w *Writer) EndTickContext(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		return public(err)
	}
	return public(w.endTickLocked(ctx, "end tick"))
}

// Sync marks the end of an application step: collective. Call it when a
// step is complete (before computing the next): the tick ends there, so
// readers see the step at once, unless the last end of tick a step caused
// is less than Config.MinTickInterval ago; then the tick ends as soon as
// that interval is over. A parallel writer can publish only at sync points, and Sync is
// one. With ManualTicks it ends a tick only when the tick's changes pass
// their limit.
func (w *Writer) Sync() error { return w.SyncContext(context.Background()) }

// SyncContext is Sync whose waits for the other ranks end when ctx is done
// (the writer then fails: the ranks no longer agree).
func (w *Writer) SyncContext(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		return public(err)
	}
	if w.size > 1 {
		return public(w.syncPoint(ctx, "step", step))
	}
	if w.stepDue(time.Now()) || w.tickFull() {
		return public(w.endTickLocked(ctx, "step"))
	}
	return nil
}

// stepDue says, at a step boundary (on rank 0), whether the tick ends
// there: when the last end of tick a step caused started MinTickInterval
// ago or more, and at least stepCostShare times as long ago as it took
// (one rank: writing the raw data, then publishing; several: publishing).
// If not, the tick becomes due when it is, so that the step waits no
// longer. The second rule keeps publishing steps to at most a third of the
// writer's time, and spreads the ticks out when ends of tick slow down -
// on a loaded machine, where readers are slow too and need the longer
// window to read a snapshot. Ends of tick by expiry do not count: one just
// before a step boundary must not hold the step back.
func (w *Writer) stepDue(now time.Time) bool {
	if w.due.IsZero() {
		return false
	}
	next := w.stepEnd.Add(max(w.cfg.MinTickInterval, stepCostShare*w.stepCost))
	if !now.Before(next) {
		w.stepEnd, w.stepNow = now, true
		return true
	}
	if next.Before(w.due) {
		w.setDue(next)
		w.stepWait = true
	}
	return false
}

// stepCostShare: the ends of tick steps cause start at least this many
// times their publication's duration apart (stepDue). Two gave fast
// steps half the writer's time to publish; three gives them a third, for
// about a millisecond more latency (docs/DECISIONS.md).
const stepCostShare = 3

// endTickLocked ends the open tick on every rank: a sync point that ends
// the tick for a parallel writer, the writer end of tick for one rank.
func (w *Writer) endTickLocked(ctx context.Context, why string) error {
	if w.size > 1 {
		return w.syncPoint(ctx, why, forceEnd)
	}
	began := time.Now()
	if err := w.checkFiles(); err != nil {
		return w.fail(err)
	}
	if err := w.flushRaw(); err != nil {
		return w.fail(err)
	}
	if err := w.grow(); err != nil {
		return w.fail(err)
	}
	return w.publishTick(w.oldestPB(), began)
}

// pubTick is a metadata-file tick that published a page-buffer tick.
type pubTick struct{ md, pb uint64 }

// oldestPB is the page-buffer tick a reader of the oldest metadata-file
// tick it may be on (the newest header's) has: the last one published at
// or before it; 0 before any. Rank 0 only. It forgets older ticks.
func (w *Writer) oldestPB() uint64 {
	if w.pub == nil {
		return 0
	}
	o := w.pub.oldest()
	i := 0
	for i+1 < len(w.pubs) && w.pubs[i+1].md <= o {
		i++
	}
	w.pubs = w.pubs[i:]
	if len(w.pubs) == 0 || w.pubs[0].md > o {
		return 0
	}
	return w.pubs[0].pb
}

// grow runs on rank 0 once every rank's raw data of the tick is written,
// before the tick is published: the data file reaches the end of
// allocation, so a reader can tell bytes cut off the file from bytes never
// written (see pfile's Grow).
func (w *Writer) grow() error {
	if w.final {
		return nil // Close grew it
	}
	if err := w.checkSize(); err != nil {
		return err // growing would hide the cut
	}
	if err := w.pf.Grow(); err != nil {
		return fmt.Errorf("%s: grow to the end of allocation: %w", w.path, err)
	}
	size, err := w.data.Size()
	if err != nil {
		return fmt.Errorf("%s: %w", w.path, err)
	}
	w.fence.setGrown(size)
	return nil
}

// flushRaw writes back this rank's raw data unless configured not to.
func (w *Writer) flushRaw() error {
	if w.cfg.NoRawFlush || w.final {
		return nil
	}
	if err := w.pf.FlushRaw(); err != nil {
		return fmt.Errorf("%s: raw data flush: %w", w.path, err)
	}
	if w.cfg.Durable && w.rank != 0 {
		// Rank 0 syncs the data file itself before publishing.
		if err := w.data.Sync(); err != nil {
			return fmt.Errorf("%s: sync data: %w", w.path, err)
		}
	}
	return nil
}

// publishTick runs the end of tick after the raw data is written: the page
// buffer hands over the tick's changes and rank 0 publishes them. oldest
// is the page-buffer tick of the oldest tick a reader may be on, as rank 0
// knew it before this end of tick (every rank frees space by it alike).
// began is when the end of tick began: for one rank, before its raw data
// was written, and a step's end of tick costs the writer from then
// (stepDue).
func (w *Writer) publishTick(oldest uint64, began time.Time) error {
	start := time.Now()
	if err := w.seal(); err != nil {
		return err
	}
	tick := w.pb.Tick()
	res, err := w.pb.EndTick(tick)
	if err != nil {
		return w.fail(fmt.Errorf("%s: end of tick %d: %w", w.path, tick, err))
	}
	if w.pub != nil {
		st, err := w.pub.update(res)
		if err != nil {
			return w.fail(w.publishErr(fmt.Errorf("%s: publish tick %d: %w", w.path, tick, err)))
		}
		took := time.Since(start)
		w.statsMu.Lock()
		w.stats.EOT = append(w.stats.EOT, took)
		w.stats.MDMax = max(w.stats.MDMax, st.FileSize)
		w.stats.MDBytes += st.LastBytes
		w.statsMu.Unlock()
		w.log.Info("end of tick", zap.Uint64("tick", st.Tick), zap.Duration("eot", took),
			zap.Int("index_entries", st.Entries), zap.Int("changed", len(res.Changes)),
			zap.Int("removed", len(res.Remove)), zap.Uint64("md_bytes_written", st.LastBytes),
			zap.Int64("md_file_size", st.FileSize))
		w.pubs = append(w.pubs, pubTick{md: st.Tick, pb: tick})
		w.pb.SetOldest(w.oldestPB())
		w.ann.announce(st.Tick, time.Now())
		if w.cfg.OnPublish != nil {
			w.cfg.OnPublish(PublishInfo{Tick: st.Tick, Calls: w.calls.Load() + w.batched, Took: took, Index: st.Entries, MD: st.FileSize})
		}
	}
	w.statsMu.Lock()
	w.stats.Ticks++
	w.statsMu.Unlock()
	next := w.pb.Tick()
	w.pf.SetEpoch(next)
	// Space freed in epoch f is what readers of ticks before f may still
	// read: reusable once max_lag ticks have passed and f <= oldest, which
	// a header published before this end of tick said, so that ranks that
	// reuse it before rank 0 publishes this tick reuse nothing a reader
	// may be on.
	if next > w.cfg.MaxLag {
		w.pf.ReleaseBefore(min(next-w.cfg.MaxLag, oldest+1))
	}
	now := time.Now()
	if w.stepWait {
		w.stepEnd = began
	}
	if w.stepNow || w.stepWait {
		w.stepCost = now.Sub(began)
		w.stepNow, w.stepWait = false, false
	}
	if w.cfg.TickLen > 0 && !w.cfg.ManualTicks {
		w.setDue(now.Add(w.cfg.TickLen))
	}
	return nil
}

// setDue makes the open tick expire at t: the timer marks it expired
// then, so that a call need not read the clock.
func (w *Writer) setDue(t time.Time) {
	w.due = t
	if w.dueTimer != nil {
		w.dueTimer.Stop()
	}
	mark := w.pb.Tick() + 1
	w.dueTimer = time.AfterFunc(time.Until(t), func() {
		// Only forward: a late timer of an older tick changes nothing.
		for {
			cur := w.expired.Load()
			if cur >= mark {
				return
			}
			if w.expired.CompareAndSwap(cur, mark) {
				break
			}
		}
		select {
		case w.wake <- struct{}{}:
		default:
		}
	})
}

// timer runs on rank 0 between the application's calls: it ends expired
// ticks of a one-rank writer (woken by the due timer, so those a Sync made
// due early end on time too), and keeps the heartbeat going when it cannot
// (a parallel writer between sync points, or a long call in progress).
func (w *Writer) timer() {
	defer close(w.stopped)
	t := time.NewTicker(max(w.cfg.TickLen/4, time.Millisecond))
	defer t.Stop()
	// retry fires after a wake-up that found mu taken - by Stats, say,
	// which ends no tick; a call in progress ends the tick itself when it
	// returns - until the ticker fires.
	var retry <-chan time.Time
	expired := false // a wake-up came, and no round got mu since: the tick is due
	for {
		woken := false
		select {
		case <-w.stop:
			return
		case <-t.C:
			retry = nil
		case <-w.wake:
			woken = true
		case <-retry:
			woken = true
		}
		expired = expired || woken
		if w.size == 1 && !w.cfg.ManualTicks {
			if expired && w.cfg.OnTimer != nil {
				w.cfg.OnTimer() // before the end of an expired tick, not at every poll
			}
			if w.mu.TryLock() {
				retry, expired = nil, false
				if w.usable() == nil && !time.Now().Before(w.due) {
					w.endTickLocked(context.Background(), "timer") // one rank; a failure is sticky and reported by the next call
				}
				w.mu.Unlock()
			} else if woken {
				retry = time.After(time.Millisecond)
			}
		}
		if err := w.pub.heartbeat(w.cfg.TickLen); err != nil {
			w.log.Warn("heartbeat failed", zap.Error(err))
		}
	}
}

// Flush ends ticks until every metadata page is in the data file (up to
// max_lag ticks, waiting for each tick to expire), then syncs the data
// file. Collective.
func (w *Writer) Flush() error { return w.FlushContext(context.Background()) }

// FlushContext is Flush whose waits (for the other ranks, and for ticks
// to expire) end when ctx is done (the writer then fails).
func (w *Writer) FlushContext(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		return public(err)
	}
	if err := w.drain(ctx, "flush"); err != nil {
		return public(err)
	}
	if err := w.data.Sync(); err != nil {
		return w.fail(fmt.Errorf("%s: sync: %w", w.path, err))
	}
	return nil
}

// drain ends ticks until rank 0's page buffer has written everything:
// at most max_lag + 1 ticks, and the lag window. It waits for ticks to
// expire for at most cfg.DrainWait in all; past that the remaining ticks
// end back to back and the lag window is suspended (a reader that falls
// max_lag ticks behind then gets ErrLagging, never reused space).
func (w *Writer) drain(ctx context.Context, why string) error {
	deadline := time.Now().Add(w.cfg.DrainWait)
	if w.pub != nil {
		defer w.pub.keepFor(w.cfg.LagWindow)
	}
	for {
		if w.pub != nil && !time.Now().Before(deadline) {
			w.pub.keepFor(0)
		}
		if err := w.endTickLocked(ctx, why); err != nil {
			return err
		}
		pending, err := w.pendingWrites(ctx)
		if err != nil {
			return w.fail(err)
		}
		if pending == 0 {
			return nil
		}
		if left := time.Until(deadline); left > 0 {
			if err := w.waitTick(ctx, left); err != nil {
				return w.fail(fmt.Errorf("%s: %s: %w", w.path, why, err))
			}
		}
	}
}

// pendingWrites is how many of rank 0's entries must still wait, agreed
// by every rank.
func (w *Writer) pendingWrites(ctx context.Context) (int, error) {
	pending := 0
	if w.rank == 0 {
		n, err := w.pb.Flush()
		if err != nil {
			return 0, fmt.Errorf("%s: write back: %w", w.path, err)
		}
		pending = n
	}
	if w.size == 1 {
		return pending, nil
	}
	got, err := bcastMsg(ctx, w.cfg.Comm, 0, pending)
	if err != nil {
		return 0, fmt.Errorf("%s: flush: %w", w.path, err)
	}
	return got, nil
}

// waitTick sleeps out the rest of the open tick (at most limit), so that
// draining the delayed writes does not run the ticks faster than readers
// expect; mu is released meanwhile. It returns ctx's error if ctx is done
// first.
func (w *Writer) waitTick(ctx context.Context, limit time.Duration) error {
	if w.cfg.TickLen <= 0 {
		return ctx.Err()
	}
	w.mu.Unlock()
	defer w.mu.Lock()
	t := time.NewTimer(min(w.cfg.TickLen, limit))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close publishes the final tick, marks the metadata file finalising,
// writes every metadata page still held back into the data file at once,
// syncs it (with Durable only), marks the metadata file closed and removes
// it (unless KeepMD): about one end of tick plus the write back, no wait
// for max_lag ticks (see the package doc, "Closing"). Collective. Close is
// idempotent: a second Close, or one made concurrently, waits for the
// first and returns its result; every other call after Close returns
// ErrClosed.
func (w *Writer) Close() error { return w.CloseContext(context.Background()) }

// CloseContext is Close whose waits (for the other ranks, and for ticks to
// expire) end when ctx is done: the writer is then abandoned, and its file
// must be recovered.
func (w *Writer) CloseContext(ctx context.Context) error {
	w.closeOnce.Do(func() { w.closeErr = public(w.close(ctx)) })
	return w.closeErr
}

// close runs once, for the first Close.
func (w *Writer) close(ctx context.Context) error {
	if w.stop != nil {
		close(w.stop)
		<-w.stopped
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	err := w.closeLocked(ctx)
	if w.dueTimer != nil {
		w.dueTimer.Stop() // the last end of tick restarted it
	}
	w.done = true
	if cerr := w.data.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("%s: close: %w", w.path, cerr)
	}
	if w.pub != nil {
		if err != nil {
			w.pub.abandon()
		} else {
			w.log.Info("file close", zap.String("role", "writer"), zap.Uint64("tick", w.pub.lastTick()))
		}
	}
	return err
}

// finalise runs on rank 0 once the last tick is published: it marks the
// metadata file finalising and only then writes every page the buffer
// still delays. A reader on an older tick that loads one of those pages
// finds the mark when it checks the header after the load, and moves to
// the final tick before it uses anything (Reader's checkLag). mu held.
func (w *Writer) finalise() error {
	if err := w.pub.finalise(); err != nil {
		return w.publishErr(fmt.Errorf("%s: mark the metadata file finalising: %w", w.path, err))
	}
	if err := w.pb.WriteAll(); err != nil {
		return fmt.Errorf("%s: write back: %w", w.path, err)
	}
	return nil
}

func (w *Writer) closeLocked(ctx context.Context) error {
	if w.err != nil {
		return w.err
	}
	if w.rank == 0 {
		// Before the data file is grown to its end of allocation, which
		// would hide a cut.
		if err := w.checkFiles(); err != nil {
			return w.fail(err)
		}
	}
	if err := w.pf.Close(); err != nil {
		return w.fail(fmt.Errorf("%s: close data file: %w", w.path, err))
	}
	w.final = true
	// The last tick: every change is in the metadata file.
	if err := w.endTickLocked(ctx, "close"); err != nil {
		return err
	}
	if w.rank == 0 {
		if err := w.finalise(); err != nil {
			return w.fail(err)
		}
	}
	// Without Durable the contract is surviving a crash of the processes,
	// which the page cache already gives: only durable mode pays an fsync.
	if w.cfg.Durable {
		if err := w.data.Sync(); err != nil {
			return w.fail(fmt.Errorf("%s: sync: %w", w.path, err))
		}
	}
	if w.size > 1 {
		// Every rank's data is in the file before rank 0 says closed.
		if err := w.cfg.Comm.Barrier(ctx); err != nil {
			return w.fail(fmt.Errorf("%s: close: %w", w.path, err))
		}
	}
	if w.pub != nil {
		closed := w.pub.lastTick() + 1 // the tick of the closed header
		if err := w.pub.close(w.cfg.KeepMD); err != nil {
			return w.fail(w.publishErr(fmt.Errorf("%s: close metadata file: %w", w.path, err)))
		}
		w.ann.announce(closed, time.Now())
	}
	return nil
}
