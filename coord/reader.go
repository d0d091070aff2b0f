package coord

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"time"

	"go.uber.org/zap"

	"pwstore/mdfile"
	"pwstore/pagebuf"
	"pwstore/pfile"
	"pwstore/vfs"
)

// Reader reads a file while its writer runs (or after it closed), through
// the snapshots the writer publishes. With cfg.Comm it is one rank of a
// collective reader: every rank calls Tick together and all adopt the same
// snapshot. Its methods are safe for concurrent use.
type Reader struct {
	cfg  Config
	path string
	log  *zap.Logger
	rank int
	size int

	// Lock order: mu, then statsMu. mu is held across a collective Tick,
	// so Stats does not wait for it.
	mu    sync.Mutex // guards every field below up to statsMu, and every call into md, pb and pf
	data  vfs.File
	md    *mdfile.Reader   // nil: the writer had closed and removed it before we opened
	snap  *mdfile.Snapshot // rank 0: the snapshot adopted last
	idx   *index
	back  *snapshotBackend
	pb    *pagebuf.Buffer
	pf    *pfile.File
	moved time.Time // when the adopted tick last changed (monotonic)
	due   time.Time // next automatic tick (one-rank readers without ManualTicks)
	// behind: at the last page load the reader was in the older half of
	// the ticks the newest header lets a reader be on (late); an automatic
	// reader then ticks at its next call rather than when due, so that
	// fast ticks (steps published at Sync) do not leave it behind the
	// oldest tick between two of its ticks.
	behind bool
	// told: the tick the last Tick or TickFull reported (or the one
	// opened), so that Changed counts a move made between two of them too
	// (an automatic tick, or a move to the final tick during a read).
	told   uint64
	closed bool
	tx     []byte   // rank 0: the last tick message sent, its room reused
	rx     adoptMsg // other ranks: the last tick message received, its lists' room reused

	statsMu sync.Mutex  // guards stats; taken after mu, never held across a call
	stats   ReaderStats // Pagebuf: as of the last Stats call that got mu

	listen *listener // tick announcements (nil: none); set by OpenReader, then only read
}

// ReaderStats are a reader's figures.
type ReaderStats struct {
	Ticks   uint64 // snapshots adopted
	Evicted uint64 // pages evicted because a new index changed them
	Full    uint64 // ticks this rank adopted from a full index (collective)
	// Final counts the moves to the final tick on meeting a finalising
	// writer (a call rerun, or a tick whose load was overtaken).
	Final   uint64
	Pagebuf pagebuf.Stats
}

// TickInfo says what a Tick adopted.
type TickInfo struct {
	Tick    uint64 // the adopted tick
	Changed bool   // the tick moved since the previous Tick
	Ended   bool   // the writer closed: the file is complete
	Evicted int    // pages evicted from this rank's buffer
	// Published is when the writer published the adopted tick, by its
	// clock (the time in the tick's metadata header).
	Published time.Time
}

// OpenReader opens path for reading, waiting up to cfg.OpenWait for it or
// its writer's first tick to appear. With cfg.Comm every reader rank calls
// it; rank 0 reads the index and sends it to the others.
func OpenReader(path string, cfg Config) (*Reader, error) {
	return OpenReaderContext(context.Background(), path, cfg)
}

// OpenReaderContext is OpenReader whose waits (for the file, and for the
// other ranks) end when ctx is done.
func OpenReaderContext(ctx context.Context, path string, cfg Config) (*Reader, error) {
	r, err := openReader(ctx, path, cfg)
	return r, public(err)
}

func openReader(ctx context.Context, path string, cfg Config) (*Reader, error) {
	cfg, err := cfg.withDefaults(path)
	if err != nil {
		return nil, err
	}
	r := &Reader{cfg: cfg, path: path, log: cfg.Logger.With(zap.String("file", path)),
		rank: cfg.rank(), size: cfg.size(), idx: newIndex()}
	var first adoptMsg
	if r.rank == 0 {
		err = r.openFirst(ctx)
		if err == nil {
			first = r.fullMsg()
		}
	}
	if r.size > 1 {
		if err != nil {
			first.Err, first.Code = err.Error(), errCode(err)
		}
		got, berr := bcastAdopt(ctx, cfg.Comm, first)
		switch {
		case berr != nil:
			err = fmt.Errorf("%s: open: %w", path, berr)
		case got.Err != "" && err == nil:
			err = remoteError(fmt.Sprintf("%s: reader rank 0: %s", path, got.Err), got.Code)
		case err == nil && r.rank != 0:
			err = r.openFollower(got)
		}
	}
	if err != nil {
		r.release()
		return nil, err
	}
	r.log.Info("file open", zap.String("role", "reader"), zap.Int("rank", r.rank), zap.Int("ranks", r.size),
		zap.Uint64("tick", r.idx.tick()), zap.Bool("writer_closed", r.ended()))
	r.moved, r.told = time.Now(), r.idx.tick()
	r.scheduleTick()
	r.startListening()
	return r, nil
}

// openFirst runs on rank 0 (or the only rank): wait for the files, load
// the first snapshot, check that the two files belong together.
func (r *Reader) openFirst(ctx context.Context) error {
	deadline := time.Now().Add(r.cfg.OpenWait)
	for {
		err := r.tryOpen()
		if err == nil || !errors.Is(err, ErrNotReady) || !time.Now().Before(deadline) {
			return err
		}
		r.release()
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (%w)", err, ctx.Err())
		case <-time.After(min(2*time.Millisecond, time.Until(deadline))):
		}
	}
}

// tryOpen makes one attempt; ErrNotReady means try again.
func (r *Reader) tryOpen() error {
	fsys := r.cfg.FS
	md, err := mdfile.Open(fsys, r.cfg.MDPath, mdfile.ReaderOptions{Logger: r.log, Wait: time.Millisecond})
	switch {
	case err == nil:
		r.md = md
	case errors.Is(err, mdfile.ErrNotReady):
		// No metadata file, or no tick in it yet: a closed file reads alone.
		if _, serr := fsys.Stat(r.cfg.MDPath); serr == nil {
			return fmt.Errorf("%s: the writer has not published a tick yet: %w", r.path, ErrNotReady)
		}
	default:
		return fmt.Errorf("%s: metadata file %s: %w", r.path, r.cfg.MDPath, err)
	}
	data, err := fsys.Open(r.path)
	if errors.Is(err, fs.ErrNotExist) {
		if r.md != nil {
			return fmt.Errorf("%s: data file missing beside metadata file %s: %w", r.path, r.cfg.MDPath, ErrWrongFile)
		}
		return fmt.Errorf("%s: no such file yet: %w", r.path, ErrNotReady)
	}
	if err != nil {
		return fmt.Errorf("open %s: %w", r.path, err)
	}
	r.data = data
	sb, sbErr := pfile.ReadSuperblock(data)
	if r.md == nil {
		if sbErr != nil {
			if errors.Is(sbErr, pfile.ErrTruncated) {
				return fmt.Errorf("%s: data file has no superblock yet: %w", r.path, ErrNotReady)
			}
			return fmt.Errorf("%s: %w", r.path, sbErr)
		}
		return r.build(mdfile.Header{PageSize: uint32(sb.PageSize), Status: mdfile.StatusClosed}, nil)
	}
	snap := r.md.Current()
	switch {
	case sbErr == nil && sb.ID != snap.Header.FileID:
		return fmt.Errorf("%s: %s was written for file %x, the data file is %x: %w",
			r.path, r.cfg.MDPath, snap.Header.FileID, sb.ID, ErrWrongFile)
	case sbErr != nil && (errors.Is(sbErr, pfile.ErrTruncated) || unwritten(data)):
		// The writer has not written page 0 yet (its first write-back may
		// put other pages there first).
		return fmt.Errorf("%s: data file has no superblock yet: %w", r.path, ErrNotReady)
	case sbErr != nil:
		return fmt.Errorf("%s: %w", r.path, sbErr)
	}
	r.snap = snap
	return r.build(snap.Header, snap.Entries())
}

// unwritten reports, after ReadSuperblock failed, whether page 0 was
// unwritten when it read it: the first bytes are still zero, or page 0
// now holds a valid superblock - the writer wrote it between the two
// reads, which read as a bad magic and then as written bytes (once in 200
// starts of a fast writer).
func unwritten(f vfs.File) bool {
	var b [16]byte
	if vfs.ReadFull(f, b[:], 0) == nil && b == [16]byte{} {
		return true
	}
	_, err := pfile.ReadSuperblock(f)
	return err == nil
}

// openFollower sets a reader rank other than 0 up from rank 0's message.
func (r *Reader) openFollower(m adoptMsg) error {
	data, err := r.cfg.FS.Open(r.path)
	if err != nil {
		return fmt.Errorf("rank %d: open %s: %w", r.rank, r.path, err)
	}
	r.data = data
	if m.Header.Status.Live() {
		md, err := mdfile.Open(r.cfg.FS, r.cfg.MDPath, mdfile.ReaderOptions{Logger: r.log, Wait: time.Millisecond})
		if err != nil {
			return fmt.Errorf("rank %d: %s: metadata file: %w", r.rank, r.path, err)
		}
		r.md = md
	}
	return r.build(m.Header, m.Entries)
}

// build makes the page buffer and data file view for the first index.
func (r *Reader) build(h mdfile.Header, entries []mdfile.Entry) error {
	r.idx.reset(h, entries)
	ps := int(h.PageSize)
	r.back = &snapshotBackend{data: dataBackend{f: r.data, ps: int64(ps)}, md: r.md, idx: r.idx}
	if !r.ended() {
		r.back.lagCheck = r.checkLag
	}
	pb, err := pagebuf.New(pagebuf.Config{PageSize: ps, MaxPages: r.cfg.CachePages, Mode: pagebuf.SWMRReader}, r.back)
	if err != nil {
		return fmt.Errorf("%s: page buffer: %w", r.path, err)
	}
	r.pb = pb
	r.pf, err = pfile.Open(pb, r.data, pfile.Options{PageSize: ps, ReadOnly: true, RawCacheBytes: r.cfg.RawCacheBytes})
	if err != nil {
		return fmt.Errorf("%s: %w", r.path, err)
	}
	pb.SetEvictHook(r.pf.Evicted)
	return nil
}

// checkLag runs after every page the reader loads. If the writer is now
// max_lag or more ticks ahead of the adopted snapshot, the page may come
// from space already reused, so the read must not be trusted (ErrLagging).
// If the writer has marked the file finalising (or closed it, or recovery
// consumed it) since the adopted tick, the page may be one its Close wrote
// early, newer than the adopted snapshot: errFinal, upon which read drops
// the call's work, moves to the final tick and runs the call again. A page
// loaded before the mark was written is right for the adopted tick, since
// the writer writes nothing early before the mark; this check reads the
// header after the page, so a page written early is always seen with the
// mark (one node's page cache orders them, as it orders the lag check).
func (r *Reader) checkLag() error {
	if r.md == nil {
		return nil
	}
	h, err := r.md.WriterHeader()
	if err != nil {
		return fmt.Errorf("%s: writer tick: %w", r.path, err)
	}
	wt := h.Tick
	if h.Status != mdfile.StatusOpen && r.idx.header.Status == mdfile.StatusOpen && wt > r.idx.tick() {
		return fmt.Errorf("%s: reader at tick %d, writer %s at tick %d: %w", r.path, r.idx.tick(), h.Status, wt, errFinal)
	}
	r.behind = late(r.idx.tick(), h)
	if r.idx.tick() < h.OldestTick {
		return fmt.Errorf("%s: reader at tick %d, writer at %d: the oldest tick a reader may be on is %d (max lag %d ticks, or the writer's lag window); call Tick more often or raise max lag: %w",
			r.path, r.idx.tick(), wt, h.OldestTick, h.MaxLag, ErrLagging)
	}
	return nil
}

// late says whether a reader on tick is in the older half of what the
// newest header lets readers be on (OldestTick to its tick, max_lag ticks
// at least: the first ticks have fewer behind them): time to move. With
// ticks alone that is half of max_lag behind.
func late(tick uint64, newest mdfile.Header) bool {
	lag := newest.Tick - min(newest.Tick, tick)
	return lag >= max(newest.Tick-newest.OldestTick+1, uint64(newest.MaxLag))/2
}

// errFinal: a page was loaded under an older tick after the writer marked
// the file finalising (checkLag). Never returned to the application.
var errFinal = errors.New("the writer is finalising the file: move to its final tick")

// catchUp moves this rank alone to the writer's newest tick after
// errFinal. That tick is final: after the finalising mark the writer
// publishes only the closed mark, whose snapshot has the same contents.
// So ranks of a collective reader that catch up on their own all end on
// the same contents; until their next Tick (which brings every rank
// there) a rank that caught up may see newer contents than one that did
// not. mu held.
func (r *Reader) catchUp() (TickInfo, error) {
	var m adoptMsg
	if r.rank == 0 {
		var err error
		if m, err = r.load(false, nil); err != nil {
			return TickInfo{Tick: r.idx.tick()}, err
		}
	} else {
		snap, err := r.md.Load()
		if err != nil {
			return TickInfo{Tick: r.idx.tick()}, fmt.Errorf("%s: load the final snapshot: %w", r.path, err)
		}
		m = adoptMsg{Base: r.idx.tick(), Header: snap.Header, Full: true, Entries: snap.Entries()}
	}
	info, err := r.adopt(m)
	if err == nil {
		r.statsMu.Lock()
		r.stats.Final++
		r.statsMu.Unlock()
		r.log.Info("moved to the final tick", zap.Uint64("tick", info.Tick), zap.Int("rank", r.rank))
	}
	return info, err
}

// ended says whether the adopted index is the writer's last (it closed,
// or recovery consumed the file): the data file alone then. mu held.
func (r *Reader) ended() bool { return !r.idx.header.Status.Live() }

// release closes what an open attempt opened.
func (r *Reader) release() {
	if r.md != nil {
		r.md.Close()
		r.md = nil
	}
	if r.data != nil {
		r.data.Close()
		r.data = nil
	}
}

// scheduleTick sets when a one-rank reader ticks by itself.
func (r *Reader) scheduleTick() {
	if r.size == 1 && !r.cfg.ManualTicks && r.cfg.TickLen > 0 {
		r.due = time.Now().Add(r.cfg.TickLen)
	}
}

// enter is run by every read call of a one-rank reader: tick when due, or
// at once when a newer tick was announced or the last page load found the
// reader late (in the older half of what the writer keeps).
func (r *Reader) enter() error {
	if r.closed {
		return fmt.Errorf("%s: reader: %w", r.path, ErrClosed)
	}
	if r.due.IsZero() || (time.Now().Before(r.due) && !r.listen.news() && !r.behind) {
		return nil
	}
	_, err := r.tickLocked(context.Background()) // one rank: no wait for others
	if errors.Is(err, ErrWriterGone) {
		// The last snapshot stays readable; Tick reports the writer gone.
		r.log.Warn("automatic tick", zap.Error(err))
		return nil
	}
	return err
}

// Tick adopts the newest snapshot the writer published. Collective with
// a communicator: reader rank 0 loads it and sends it to the others, so all
// ranks adopt the same tick. It reports ErrWriterGone when the writer's
// heartbeat stopped for cfg.WriterGone, ErrLagging when the reader fell
// too far behind.
func (r *Reader) Tick() (TickInfo, error) { return r.TickContext(context.Background()) }

// TickContext is Tick whose wait for the other reader ranks ends when ctx
// is done.
func (r *Reader) TickContext(ctx context.Context) (TickInfo, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return TickInfo{}, fmt.Errorf("%s: reader: %w", r.path, ErrClosed)
	}
	return r.report(r.tickLocked(ctx))
}

// report returns what Tick or TickFull adopted: Changed counts a move made
// since the previous one of them too (r.told). mu held.
func (r *Reader) report(info TickInfo, err error) (TickInfo, error) {
	if err == nil {
		info.Changed = info.Tick != r.told
		r.told = info.Tick
	}
	return info, public(err)
}

func (r *Reader) tickLocked(ctx context.Context) (TickInfo, error) {
	defer func() {
		r.scheduleTick()
		r.listen.ticked(r.idx.tick())
	}()
	r.behind = false
	if r.size > 1 {
		return r.collectiveTick(ctx, false)
	}
	m, err := r.load(false, nil)
	if err != nil {
		return TickInfo{Tick: r.idx.tick()}, err
	}
	return r.adopt(m)
}

// preload is a snapshot reader rank 0 loaded a moment ago and, if diffed,
// the delta to it from the adopted snapshot and that delta's message
// encoded (enc, unless encoding failed).
type preload struct {
	snap   *mdfile.Snapshot
	delta  mdfile.Delta
	diffed bool
	enc    []byte
	used   bool // load made its message of delta
}

// load is rank 0's half of a tick: the newest snapshot as a message for
// the ranks (a delta from the adopted snapshot, or the full index). pre,
// if not nil, was loaded a moment ago: it is used if the writer has
// published nothing since.
func (r *Reader) load(full bool, pre *preload) (adoptMsg, error) {
	if r.ended() || r.md == nil {
		if full {
			return r.fullMsg(), nil
		}
		return adoptMsg{Base: r.idx.tick(), Header: r.idx.header}, nil
	}
	var snap *mdfile.Snapshot
	if pre != nil {
		if wt, err := r.md.WriterTick(); err == nil && wt == pre.snap.Tick() {
			snap = pre.snap
		}
	}
	if snap == nil {
		var err error
		if snap, err = r.md.Load(); err != nil {
			return adoptMsg{}, fmt.Errorf("%s: load snapshot: %w", r.path, err)
		}
	}
	if snap.Tick() == r.snap.Tick() {
		if snap.Header.Status.Live() && time.Since(r.moved) > r.cfg.WriterGone {
			return adoptMsg{}, fmt.Errorf("%s: no heartbeat for %v since tick %d (written %s); if the writer crashed, run `pwriter recover %s`: %w",
				r.path, time.Since(r.moved).Round(time.Millisecond), snap.Tick(), snap.Header.Heartbeat.Format(time.RFC3339Nano), r.path, ErrWriterGone)
		}
		if full {
			return adoptMsg{Base: r.idx.tick(), Header: snap.Header, Full: true, Entries: snap.Entries()}, nil
		}
		return adoptMsg{Base: r.idx.tick(), Header: snap.Header}, nil
	}
	m := adoptMsg{Base: r.snap.Tick(), Header: snap.Header}
	if full {
		m.Full, m.Entries = true, snap.Entries()
	} else {
		var d mdfile.Delta
		if pre != nil && pre.diffed && snap == pre.snap {
			d, pre.used = pre.delta, true
		} else {
			d = mdfile.Diff(r.snap, snap)
		}
		m.Added, m.Changed, m.Removed = d.Added, d.Changed, d.Removed
	}
	r.snap = snap
	return m, nil
}

// adopt moves this rank to the snapshot m describes and evicts the pages
// it changed.
func (r *Reader) adopt(m adoptMsg) (TickInfo, error) {
	prev, ended := r.idx.tick(), r.ended()
	info := TickInfo{Tick: m.Header.Tick, Changed: m.Header.Tick != prev, Published: m.Header.Heartbeat}
	if !info.Changed {
		info.Ended = ended
		return info, nil
	}
	var changed []uint64
	if m.Full {
		changed = r.idx.replace(m.Header, m.Entries)
		r.statsMu.Lock()
		r.stats.Full++
		r.statsMu.Unlock()
	} else {
		if m.Base != prev {
			return info, fmt.Errorf("%s: rank %d at tick %d got a delta from tick %d", r.path, r.rank, prev, m.Base)
		}
		var err error
		changed, err = r.idx.apply(m.Header, mdfile.Delta{Added: m.Added, Changed: m.Changed, Removed: m.Removed})
		if err != nil {
			return info, fmt.Errorf("%s: rank %d: %w", r.path, r.rank, err)
		}
	}
	var evicted []uint64
	switch {
	case !m.Header.Status.Live() && !ended:
		// The closed (or consumed) index is empty, so the delta leaves out
		// pages changed since the previous tick that its index did not
		// list either: this buffer may hold older images of them. Every
		// page goes, the changed ones with them.
		evicted = r.pb.InvalidateAll()
	case prev < m.Header.OldestTick:
		// The reader was on a tick older than the oldest the writer still
		// kept for readers: a page changed since then may also have been
		// written back to the data file and left the index, so that
		// neither index lists it (a page changed in a tick after prev
		// reaches the data file only once that tick, hence prev, is at or
		// below the oldest tick). Every page goes.
		evicted = r.pb.InvalidateAll()
	default:
		evicted = r.pb.Invalidate(changed)
	}
	info.Evicted = len(evicted)
	r.statsMu.Lock()
	r.stats.Ticks++
	r.stats.Evicted += uint64(len(evicted))
	r.statsMu.Unlock()
	r.moved = time.Now()
	if r.ended() {
		r.back.lagCheck = nil
	}
	info.Ended = r.ended()
	if err := r.pf.Refresh(); err != nil {
		if errors.Is(err, errFinal) {
			// The writer finalised since the load: the superblock just read
			// may be newer than this tick.
			final, err := r.catchUp()
			if r.size > 1 {
				// The ranks report what they adopted together, so that they
				// agree on Ended; this one is ahead until the next Tick.
				return info, err
			}
			return final, err
		}
		return info, fmt.Errorf("%s: tick %d: %w", r.path, m.Header.Tick, err)
	}
	r.log.Debug("end of tick", zap.Uint64("tick", info.Tick), zap.Int("pages_evicted", len(evicted)),
		zap.Int("index_entries", r.idx.len()), zap.Bool("writer_closed", r.ended()))
	return info, nil
}

// Close closes the reader (on every rank of a collective reader). It
// waits for no other rank. A second Close does nothing and returns nil;
// every other call after Close returns ErrClosed.
func (r *Reader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	r.listen.close()
	r.pf.Close()
	r.release()
	r.log.Info("file close", zap.String("role", "reader"), zap.Uint64("tick", r.idx.tick()))
	return nil
}

// Stats returns the reader's figures. It does not wait for a call in
// progress (a collective Tick may wait for the other ranks): Pagebuf is
// then as of the last Stats call made between calls.
func (r *Reader) Stats() ReaderStats {
	refreshPagebuf(&r.mu, &r.statsMu, r.pb, &r.stats.Pagebuf)
	r.statsMu.Lock()
	defer r.statsMu.Unlock()
	return r.stats
}

// Late reports whether the writer's newest header finds this reader in
// the older half of the ticks a reader may be on (half of max_lag behind,
// or more within the writer's lag window): a reader that verifies or
// reads long should move to a newer tick soon.
func (r *Reader) Late() (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.md == nil || r.ended() {
		return false, nil
	}
	h, err := r.md.WriterHeader()
	if err != nil {
		return false, public(fmt.Errorf("%s: writer tick: %w", r.path, err))
	}
	return late(r.idx.tick(), h), nil
}

// Lag is how many ticks the writer is ahead of the adopted snapshot.
func (r *Reader) Lag() (uint64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.md == nil || r.ended() {
		return 0, nil
	}
	wt, err := r.md.WriterTick()
	if err != nil {
		return 0, public(fmt.Errorf("%s: writer tick: %w", r.path, err))
	}
	return wt - min(wt, r.idx.tick()), nil
}
