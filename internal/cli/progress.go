package cli

import (
	"fmt"
	"os"
	"sync"
	"time"
)

// Progress shows long work on a terminal: one line on stderr, redrawn at
// most five times a second. Off, or when stderr is not a terminal, it
// prints nothing.
type Progress struct {
	on      bool
	total   int
	perStep float64 // bytes per step, for MB/s
	start   time.Time

	mu    sync.Mutex // guards the fields below
	step  int
	tick  uint64
	lag   uint64
	drawn time.Time // last redraw; zero if nothing was drawn
	done  bool
}

// NewProgress returns a progress line for total steps of perStep bytes.
func NewProgress(on bool, total int, perStep float64) *Progress {
	return &Progress{on: on && Terminal(os.Stderr), total: total, perStep: perStep, start: time.Now()}
}

// Step records that n steps are complete.
func (p *Progress) Step(n int) { p.update(func() { p.step = n }) }

// Tick records the current tick and lag.
func (p *Progress) Tick(t, lag uint64) { p.update(func() { p.tick, p.lag = t, lag }) }

func (p *Progress) update(set func()) {
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	set()
	if p.done || time.Since(p.drawn) < 200*time.Millisecond {
		return
	}
	p.drawn = time.Now()
	secs := time.Since(p.start).Seconds()
	fmt.Fprintf(os.Stderr, "\rstep %d/%d  %.1f MB/s  tick %d  lag %d   ", p.step, p.total, float64(p.step)*p.perStep/1e6/secs, p.tick, p.lag)
}

// Done ends the progress line.
func (p *Progress) Done() {
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.done && !p.drawn.IsZero() {
		fmt.Fprintln(os.Stderr)
	}
	p.done = true
}
