package coord

import (
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"pwstore/collective"
	"pwstore/vfs"
)

// Defaults of Config.
const (
	DefaultTickLen = 100 * time.Millisecond
	DefaultMaxLag  = 10
	MinMaxLag      = 3
	// MaxMaxLag bounds max_lag: a writer keeps max_lag ticks of superseded
	// metadata and drains up to max_lag ticks at Close.
	MaxMaxLag         = 1000
	DefaultDrainWait  = 10 * time.Second // Config.DrainWait
	DefaultPageSize   = 4096
	DefaultCachePages = 16384           // 64 MiB of 4 KiB pages
	DefaultSyncBytes  = 256 << 10       // dirty metadata between sync points
	DefaultTickBytes  = 64 << 20        // changed metadata that ends a tick early
	DefaultWriterGone = 5 * time.Second // heartbeat silence that means the writer is gone
)

// Config configures a writer (Create, Open), a reader (OpenReader) or a
// recovery (Recover). The zero value is usable: every zero field takes its
// default. The fields are grouped by who reads them; a field of another
// role is ignored:
//
//   - every role: MDPath, MaxLag, TickLen, ManualTicks, CachePages,
//     RawCacheBytes, WriterGone, Comm, Logger, FS, Now;
//   - writer and recovery: NoFileLock;
//   - writer (Create, Open): PageSize, NoRawFlush, Durable, KeepMD,
//     TickBytes, SyncBytes, DrainWait, LagWindow, OnPublish, OnTimer;
//   - reader (OpenReader): OpenWait;
//   - recovery (Recover): ForceRecover.
type Config struct {
	// ---- Every role ----

	// MDPath is the metadata file (default: the data file's path + ".md").
	MDPath string
	// MaxLag is how many ticks a reader may lag (3 to MaxMaxLag = 1000,
	// default 10).
	// Writers and readers of one file must use the same value; a reader
	// judges its lag by the oldest tick the metadata file's newest header
	// names, which the writer derives from it (and from LagWindow).
	MaxLag uint64
	// TickLen is the publication period (DefaultTickLen is 100ms). A
	// writer needs one unless ManualTicks is set; a reader with none ticks
	// only when Tick is called.
	TickLen time.Duration
	// ManualTicks: no timer-driven ends of tick; the application calls
	// EndTick (writer) or Tick (reader).
	ManualTicks bool
	// CachePages is the page buffer's capacity in pages.
	CachePages int
	// RawCacheBytes bounds the per-rank chunk cache (default: pfile's).
	RawCacheBytes int
	// WriterGone: a reader reports ErrWriterGone, and Recover considers
	// the writer dead, when the writer's heartbeat has not advanced for
	// this long (default 5s, at least 10 ticks).
	WriterGone time.Duration
	// Comm makes the writer or reader parallel: all ranks of the job call
	// every metadata-changing method (writer) or Tick (reader) collectively.
	// Nil means one rank.
	Comm collective.Comm
	// Logger receives the RFC's events (file open, end of tick, ...) as
	// structured fields. Nil logs nothing.
	Logger *zap.Logger
	// FS does all file I/O (default vfs.OS, the operating system's).
	FS vfs.FS
	// Now is the wall clock for heartbeats and publication times (tests).
	Now func() time.Time

	// ---- Writer (Create, Open) ----

	// PageSize is the data file's page size at creation (power of two,
	// 512 B to 1 MiB, default 4 KiB). Opening takes the file's own.
	PageSize int
	// NoRawFlush leaves raw data in the chunk cache at end of tick. By
	// default every end of tick writes it back first, so that raw data of
	// every completed tick is in the data file when its metadata is published.
	NoRawFlush bool
	// Durable fsyncs the data file, then the page images and index, then
	// the header at every end of tick, and the directory after a file is
	// created or removed: completed ticks survive power loss.
	Durable bool
	// KeepMD keeps the metadata file after a clean close.
	KeepMD bool
	// TickBytes ends a tick early once this many bytes of metadata changed
	// in it.
	TickBytes int64
	// MinTickInterval is the shortest time between two ends of tick that
	// steps cause: a Sync (the application's step boundary) ends the tick
	// at once if the last end of tick a step caused started at least this
	// long ago - and at least three times as long ago as it took to publish - and
	// otherwise as soon as it did (default TickLen/50: 2 ms at the default
	// tick; docs/DECISIONS.md, "Writer.Sync is the application's step
	// boundary", says why). Expiries of the tick do not count. It keeps a
	// fast loop of tiny steps from turning every Sync into an end of tick,
	// which would write more metadata. (The time a reader may lag is
	// LagWindow's, however fast ticks come.) A value of TickLen or more
	// publishes steps only when the tick expires.
	MinTickInterval time.Duration
	// LagWindow is how long, besides MaxLag ticks, a reader may lag: the
	// writer keeps what a tick's readers may read (superseded metadata-file
	// space, delayed data-file writes, freed data-file space) until MaxLag
	// ticks have passed and it was superseded LagWindow ago, and every
	// metadata-file header names the oldest tick a reader may still be on.
	// So ticks that steps end every MinTickInterval do not shorten the
	// time a reader has (default MaxLag*TickLen, one second at the
	// defaults; ManualTicks: none, MaxLag ticks alone).
	LagWindow time.Duration
	// Announce, if set, is a NATS connection for tick announcements: writer
	// rank 0 publishes one after every end of tick, on AnnounceSubject of
	// the file's identity; a reader subscribes to it and wakes on them
	// (WaitTick, automatic ticks). Announcements only shorten latency: the
	// metadata file stays the only source of truth, and readers still
	// poll. The caller owns the connection and closes it after the writer
	// or reader.
	Announce *nats.Conn
	// SyncBytes: a parallel writer enters a sync point every SyncBytes of
	// dirty metadata (default 256 KiB).
	SyncBytes int64
	// DrainWait bounds how long Flush waits, in all, for ticks to expire
	// while it drains the delayed writes (at most max_lag + 1 ticks); past
	// it the remaining ticks end back to back, so Flush takes at most about
	// DrainWait whatever the tick length (default DefaultDrainWait). A
	// reader that falls max_lag ticks behind meanwhile gets ErrLagging,
	// never reused space. Close does not drain (see "Closing").
	DrainWait time.Duration
	// OnPublish, if set, is called on rank 0 after every tick it publishes,
	// with the writer's lock held: it must not call the writer.
	OnPublish func(PublishInfo)
	// OnTimer, if set, is called by the timer goroutine of a one-rank
	// writer with automatic ticks when the open tick expired, with no lock
	// held, before the timer takes the writer's lock to end it: a layer
	// that holds calls back (libpwstore's queue) makes them there, so that
	// the tick the timer ends publishes them although the application
	// makes no further call. Ticks that calls end (Sync, an expiry a call
	// finds) do not call it. It may call the writer; the timer waits for
	// it.
	OnTimer func()

	// NoFileLock: the writer's processes take no lock on the data file,
	// and recovery does not look for one. By default every writer rank
	// holds a shared advisory lock (flock) on the data file for its life,
	// and Recover refuses, with ErrWriterAlive, a file a process still
	// holds that way - a writer that is stopped (SIGSTOP, a frozen node)
	// rather than dead, whose next write would land after the recovery.
	// Set it for a file system whose locks misbehave; one that keeps no
	// locks is detected and needs nothing.
	NoFileLock bool

	// ---- Reader (OpenReader) ----

	// OpenWait: how long a reader waits for a file that does not exist yet
	// or whose writer has not published its first tick (default 0: no wait).
	OpenWait time.Duration

	// ---- Recovery (Recover) ----

	// ForceRecover makes Recover skip its check that the writer is gone
	// (its heartbeat silent for WriterGone).
	ForceRecover bool
}

// writerDefaults is withDefaults for a writer, which needs a tick length.
func (c Config) writerDefaults(path string) (Config, error) {
	if c.TickLen == 0 && !c.ManualTicks {
		return c, fmt.Errorf("%w: tick length is zero: set TickLen (coord.DefaultTickLen is %v) or ManualTicks", ErrConfig, DefaultTickLen)
	}
	c, err := c.withDefaults(path)
	if err == nil && c.MaxLag == 0 {
		c.MaxLag = DefaultMaxLag
	}
	if err == nil && c.LagWindow == 0 && !c.ManualTicks {
		c.LagWindow = time.Duration(c.MaxLag) * c.TickLen
	}
	return c, err
}

// withDefaults validates c and fills in its defaults for path.
func (c Config) withDefaults(path string) (Config, error) {
	if path == "" {
		return c, fmt.Errorf("%w: empty file path", ErrConfig)
	}
	if c.TickLen < 0 {
		return c, fmt.Errorf("%w: negative tick length %v", ErrConfig, c.TickLen)
	}
	if c.MaxLag != 0 && c.MaxLag < MinMaxLag {
		return c, fmt.Errorf("%w: max lag %d is below %d", ErrConfig, c.MaxLag, MinMaxLag)
	}
	if c.MaxLag > MaxMaxLag {
		return c, fmt.Errorf("%w: max lag %d is above %d", ErrConfig, c.MaxLag, MaxMaxLag)
	}
	if c.PageSize == 0 {
		c.PageSize = DefaultPageSize
	}
	if c.PageSize < 512 || c.PageSize > 1<<20 || c.PageSize&(c.PageSize-1) != 0 {
		return c, fmt.Errorf("%w: page size %d is not a power of two from 512 to 1048576", ErrConfig, c.PageSize)
	}
	if c.MDPath == "" {
		c.MDPath = path + ".md"
	}
	if c.MDPath == path {
		return c, fmt.Errorf("%w: metadata file path equals the data file path %q", ErrConfig, path)
	}
	if c.CachePages < 0 || c.TickBytes < 0 || c.SyncBytes < 0 || c.WriterGone < 0 || c.OpenWait < 0 || c.RawCacheBytes < 0 || c.DrainWait < 0 || c.MinTickInterval < 0 || c.LagWindow < 0 {
		return c, fmt.Errorf("%w: negative size or duration", ErrConfig)
	}
	if c.CachePages == 0 {
		c.CachePages = DefaultCachePages
	}
	if c.TickBytes == 0 {
		c.TickBytes = DefaultTickBytes
	}
	if c.SyncBytes == 0 {
		c.SyncBytes = DefaultSyncBytes
	}
	if c.MinTickInterval == 0 {
		c.MinTickInterval = c.TickLen / 50
	}
	if c.WriterGone == 0 {
		c.WriterGone = max(DefaultWriterGone, 10*c.TickLen)
	}
	if c.DrainWait == 0 {
		c.DrainWait = DefaultDrainWait
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.FS == nil {
		c.FS = vfs.OS
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c, nil
}

// rank and size of the job (one rank without a communicator).
func (c Config) rank() int {
	if c.Comm == nil {
		return 0
	}
	return c.Comm.Rank()
}

func (c Config) size() int {
	if c.Comm == nil {
		return 1
	}
	return c.Comm.Size()
}

// PublishInfo describes one published tick.
type PublishInfo struct {
	Tick  uint64        // the tick now in the metadata file
	Calls uint64        // collective calls whose changes it includes: the first Calls made
	Took  time.Duration // end-of-tick processing time
	Index int           // index entries
	MD    int64         // metadata file size in bytes
}
