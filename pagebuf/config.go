package pagebuf

import (
	"errors"
	"fmt"
)

// Mode selects how the buffer behaves around ticks.
type Mode int

const (
	// Plain is an ordinary write-back page buffer: no ticks, no delays.
	Plain Mode = iota
	// SWMRWriter keeps the tick list and delayed write list of a SWMR writer.
	SWMRWriter
	// SWMRReader caches clean entries only and evicts what a new index
	// lists as changed (Invalidate).
	SWMRReader
)

func (m Mode) String() string {
	switch m {
	case Plain:
		return "plain"
	case SWMRWriter:
		return "swmr-writer"
	case SWMRReader:
		return "swmr-reader"
	}
	return fmt.Sprintf("mode(%d)", int(m))
}

// Config configures a Buffer.
type Config struct {
	// PageSize is the data file's page size in bytes (a power of two).
	PageSize int
	// MaxPages is the nominal capacity in pages. Entries that may not be
	// evicted (tick list, delayed write list, a follower's dirty entries)
	// can push the buffer past it; Stats counts when that happens.
	MaxPages int
	// Mode is Plain, SWMRWriter or SWMRReader.
	Mode Mode
	// MaxLag is the number of ticks a reader may lag (SWMRWriter; >= 1).
	MaxLag uint64
	// FirstTick is the tick that is open when the buffer is created
	// (SWMRWriter); 0 means 1.
	FirstTick uint64
	// TickBytesLimit, if > 0, makes OverLimit report true once the entries
	// changed in the current tick hold at least this many bytes.
	TickBytesLimit int64
	// Follower marks a writer rank other than rank 0 of a parallel writer:
	// it never writes to the Backend and its dirty entries become clean
	// only through MarkClean.
	Follower bool
	// Leader marks rank 0 of a parallel writer: it remembers the pages it
	// writes back so TakeWritten can report them.
	Leader bool
	// NoStream skips the stream digest (Stream then reports the bytes
	// only): a one-rank writer has no other rank to compare it with, and
	// hashing every image it writes was a third of its end-of-tick hashing.
	NoStream bool
}

// ErrConfig is wrapped by every configuration error New returns.
var ErrConfig = errors.New("pagebuf: bad config")

func (c *Config) validate() error {
	if c.PageSize <= 0 || c.PageSize&(c.PageSize-1) != 0 {
		return fmt.Errorf("%w: page size %d is not a positive power of two", ErrConfig, c.PageSize)
	}
	if c.MaxPages < 1 {
		return fmt.Errorf("%w: capacity %d pages, want at least 1", ErrConfig, c.MaxPages)
	}
	switch c.Mode {
	case Plain, SWMRReader:
	case SWMRWriter:
		if c.MaxLag < 1 {
			return fmt.Errorf("%w: max lag %d, want at least 1", ErrConfig, c.MaxLag)
		}
	default:
		return fmt.Errorf("%w: unknown mode %d", ErrConfig, int(c.Mode))
	}
	if c.Mode == SWMRReader && (c.Follower || c.Leader) {
		return fmt.Errorf("%w: a reader cannot be a writer rank (follower/leader)", ErrConfig)
	}
	if c.Follower && c.Leader {
		return fmt.Errorf("%w: both follower and leader", ErrConfig)
	}
	if c.TickBytesLimit < 0 {
		return fmt.Errorf("%w: tick bytes limit %d is negative", ErrConfig, c.TickBytesLimit)
	}
	return nil
}
