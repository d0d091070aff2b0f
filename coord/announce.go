package coord

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"
)

// Tick announcements. Rank 0 of a writer given Config.Announce publishes a
// short message after every end of tick that published changes (and after
// Close) on AnnounceSubject of the file's identity. A reader given
// Config.Announce subscribes to the same subject - the identity is in the
// metadata file's header, so any process that can open the file finds the
// subject, whatever job it belongs to - and wakes on it: WaitTick returns,
// and a reader with automatic ticks adopts at its next call. An
// announcement only says "look now": the reader still reads the tick from
// the metadata file, so a lost message (or a lost server) delays a reader
// until it polls, and changes nothing it reads.

// announcePrefix starts every announcement subject.
const announcePrefix = "pw.tick."

// announceSize is an announcement's length: the tick, then the unix time
// of publication in nanoseconds, both little-endian.
const announceSize = 16

// AnnounceSubject is the NATS subject on which the writer of the file with
// identity fileID announces its ticks ("pw.tick." and 32 hex digits).
func AnnounceSubject(fileID [16]byte) string {
	return announcePrefix + hex.EncodeToString(fileID[:])
}

// announcer is writer rank 0's sender of announcements.
type announcer struct {
	nc      *nats.Conn
	subject string
	log     *zap.Logger
	failed  atomic.Bool // a failure was logged: log the next only after a success
}

func newAnnouncer(nc *nats.Conn, id [16]byte, log *zap.Logger) *announcer {
	if nc == nil {
		return nil
	}
	return &announcer{nc: nc, subject: AnnounceSubject(id), log: log}
}

// announce tells readers that tick is in the metadata file. A failure is
// logged, never returned: readers fall back to polling.
//
// Publish only buffers the message and readies the connection's flusher
// goroutine on this thread, behind the caller, which goes on with the
// application's next step and may keep the thread for milliseconds before
// the flusher runs (or another thread steals it): announce yields once so
// that the message leaves now (docs/DECISIONS.md, "Tick announcements").
func (a *announcer) announce(tick uint64, at time.Time) {
	if a == nil {
		return
	}
	var b [announceSize]byte
	binary.LittleEndian.PutUint64(b[:8], tick)
	binary.LittleEndian.PutUint64(b[8:], uint64(at.UnixNano()))
	if err := a.nc.Publish(a.subject, b[:]); err != nil {
		if !a.failed.Swap(true) {
			a.log.Warn("tick announcement failed; readers poll", zap.Uint64("tick", tick), zap.Error(err))
		}
		return
	}
	a.failed.Store(false)
	runtime.Gosched()
}

// listener is a reader's subscription to its file's announcements. Its
// fields are atomics or a channel: the subscription's goroutine and the
// reader's callers use them without the reader's lock.
type listener struct {
	sub     *nats.Subscription
	last    atomic.Pointer[announcement] // newest announcement heard: its tick and publication time together
	adopted atomic.Uint64                // the tick the reader's last tick adopted (ticked)
	wake    chan struct{}                // one pending wake-up: an announcement came
}

// announcement is one announcement heard.
type announcement struct {
	tick uint64
	at   time.Time // the writer's publication time
}

// listen subscribes to the announcements of file id. It waits until the
// server has the subscription, so that no announcement after OpenReader
// returns is missed while the server is reachable.
func listen(nc *nats.Conn, id [16]byte, tick uint64) (*listener, error) {
	l := &listener{wake: make(chan struct{}, 1)}
	l.adopted.Store(tick)
	sub, err := nc.Subscribe(AnnounceSubject(id), l.hear)
	if err != nil {
		return nil, err
	}
	if err := nc.FlushTimeout(time.Second); err != nil {
		sub.Unsubscribe()
		return nil, err
	}
	l.sub = sub
	return l, nil
}

// hear takes one announcement; a message of the wrong size is not one of
// ours and is ignored.
func (l *listener) hear(m *nats.Msg) {
	if len(m.Data) != announceSize {
		return
	}
	tick := binary.LittleEndian.Uint64(m.Data)
	// Messages of one subscription come one at a time: no other hear
	// stores last between this load and the store.
	if a := l.last.Load(); a != nil && tick <= a.tick {
		return
	}
	l.last.Store(&announcement{tick: tick, at: time.Unix(0, int64(binary.LittleEndian.Uint64(m.Data[8:])))})
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// ticked records the tick a tick of the reader (automatic, Tick or
// TickFull) adopted. A move to the final tick inside a read is no tick and
// leaves it: the announcements that move overtook stay news until the
// reader ticks, so that WaitTick does not sleep through a move the next
// Tick reports at once (with the end), nor News hide it.
func (l *listener) ticked(tick uint64) {
	if l != nil {
		l.adopted.Store(tick)
	}
}

// news reports whether a tick newer than the last one the reader's ticks
// adopted was announced.
func (l *listener) news() bool {
	if l == nil {
		return false
	}
	a := l.last.Load()
	return a != nil && a.tick > l.adopted.Load()
}

func (l *listener) close() {
	if l != nil {
		l.sub.Unsubscribe()
	}
}

// startListening subscribes a reader that follows a live writer, if it has
// a connection for announcements; without one, or if the subscription
// fails, the reader polls.
func (r *Reader) startListening() {
	if r.cfg.Announce == nil || r.ended() {
		return
	}
	l, err := listen(r.cfg.Announce, r.idx.header.FileID, r.idx.tick())
	if err != nil {
		r.log.Warn("cannot subscribe to tick announcements; polling", zap.Error(err))
		return
	}
	r.listen = l
}

// News reports whether the writer announced a tick newer than the one the
// reader's last tick adopted (a move to the final tick inside a read leaves
// the close news: the next Tick reports it): a reader busy with a snapshot
// can Tick at once rather than finish first. Without announcements it is always false. It does not
// take the reader's lock.
func (r *Reader) News() bool { return r.listen.news() }

// Heard returns the newest tick announced and the publication time the
// writer announced with it (by the writer's clock); ok is false before any
// announcement or without announcements. A reader that adopted that tick
// can measure from it how long the announcement and its own tick took. It
// does not take the reader's lock.
func (r *Reader) Heard() (tick uint64, published time.Time, ok bool) {
	if r.listen == nil {
		return 0, time.Time{}, false
	}
	a := r.listen.last.Load()
	if a == nil {
		return 0, time.Time{}, false
	}
	return a.tick, a.at, true
}

// Announced reports whether the reader listens to tick announcements.
func (r *Reader) Announced() bool { return r.listen != nil }

// WaitTick waits until the writer announces a tick newer than the one the
// reader's last tick adopted (see News), for at most d, or until ctx is done. It reports whether
// an announcement came; either way the caller then calls Tick (it is a
// pause between polls that ends early, never a promise that Tick moves).
// Without announcements (Config.Announce nil, the writer closed, or the
// subscription failed) it just waits d. It does not take the reader's
// lock, so it is safe beside any other call.
func (r *Reader) WaitTick(ctx context.Context, d time.Duration) bool {
	l := r.listen
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		if l.news() {
			return true
		}
		var wake chan struct{}
		if l != nil {
			wake = l.wake
		}
		select {
		case <-wake:
		case <-t.C:
			return l.news()
		case <-ctx.Done():
			return false
		}
	}
}
