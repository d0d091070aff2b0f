package coord

import (
	"cmp"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"pwstore/mdfile"
	"pwstore/pagebuf"
	"pwstore/vfs"
)

// publisher is rank 0's hold on the metadata file. It has its own lock so
// that the heartbeat goes on while the writer's lock is held by a long call
// or by a sync point waiting for the other ranks.
type publisher struct {
	now func() time.Time

	mu   sync.Mutex // guards md and last; taken after Writer.mu (never the other way), before Writer.statsMu
	md   *mdfile.Writer
	last time.Time // when a tick was last published (monotonic)
}

func newPublisher(cfg Config, id [16]byte, takeover bool, data vfs.File, log *zap.Logger) (*publisher, error) {
	md, err := mdfile.Create(cfg.FS, cfg.MDPath, mdfile.WriterOptions{
		PageSize: cfg.PageSize, MaxLag: cfg.MaxLag, FileID: id, Takeover: takeover,
		Durable: cfg.Durable, SyncData: data.Sync, Logger: log, Now: cfg.Now, KeepFor: cfg.LagWindow,
	})
	if err != nil {
		return nil, err
	}
	return &publisher{md: md, now: cfg.Now}, nil
}

// update publishes the next tick with the page buffer's changes.
func (p *publisher) update(res pagebuf.TickResult) (mdfile.Stats, error) {
	images := make([]mdfile.Image, len(res.Changes))
	for i, c := range res.Changes {
		images[i] = mdfile.Image{Page: c.Page, Data: c.Image, Zeros: c.Zeros}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	// The buffer also names freed pages that never reached the index, and
	// a freed page may have been reused in the same tick: it stays then.
	removed := make([]uint64, 0, len(res.Remove))
	for _, page := range res.Remove {
		_, reused := slices.BinarySearchFunc(res.Changes, page, func(c pagebuf.Change, p uint64) int { return cmp.Compare(c.Page, p) })
		if _, ok := p.md.Find(page); ok && !reused {
			removed = append(removed, page)
		}
	}
	err := p.md.Update(p.md.Tick()+1, images, removed)
	p.last = time.Now()
	return p.md.Stats(), err
}

// heartbeat publishes a new tick with the same index when nothing was
// published for a period, so readers see a live writer.
func (p *publisher) heartbeat(period time.Duration) error {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if time.Since(p.last) < period {
		return nil
	}
	p.last = time.Now()
	return p.md.Heartbeat(p.md.Tick()+1, p.now())
}

func (p *publisher) lastTick() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.md.Tick()
}

// finalise publishes the finalising status (same index, next tick).
func (p *publisher) finalise() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.last = time.Now()
	return p.md.Finalise(p.now())
}

// close publishes the closed status and removes the file unless keep.
func (p *publisher) close(keep bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.md.Close(keep)
}

// abandon lets go of the metadata file without publishing anything: after a
// failure it must stay as it is, for recovery.
func (p *publisher) abandon() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.md.Abandon()
}

// oldest is the oldest tick a reader may be on, as the last header said.
func (p *publisher) oldest() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.md.Oldest()
}

// keepFor sets the metadata file's lag window in time from the next
// header on.
func (p *publisher) keepFor(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.md.SetKeepFor(d)
}
