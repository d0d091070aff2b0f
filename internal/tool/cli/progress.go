package cli

import (
	"fmt"
	"os"
	"sync"
	"time"
)

// EnvProgress, set to 1 by the local launcher when its own stderr is a
// terminal, asks rank 0 for progress although its stderr is a pipe.
const EnvProgress = "PW_PROGRESS"

// Progress shows long work on a terminal: one line on stderr, redrawn at
// most five times a second; under the local launcher (EnvProgress), a whole
// line a second, which the launcher forwards. Off, or with no terminal to
// show it on, it prints nothing.
type Progress struct {
	on      bool
	lines   bool // whole lines (through the launcher), not redraws
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
	lines := !Terminal(os.Stderr) && os.Getenv(EnvProgress) == "1"
	return &Progress{on: on && (Terminal(os.Stderr) || lines), lines: lines, total: total, perStep: perStep, start: time.Now()}
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
	every := 200 * time.Millisecond
	if p.lines {
		every = time.Second
	}
	if p.done || time.Since(p.drawn) < every {
		return
	}
	p.drawn = time.Now()
	secs := time.Since(p.start).Seconds()
	line := fmt.Sprintf("step %d/%d  %.1f MB/s  tick %d  lag %d", p.step, p.total, float64(p.step)*p.perStep/1e6/secs, p.tick, p.lag)
	if p.lines {
		fmt.Fprintln(os.Stderr, line)
	} else {
		fmt.Fprintf(os.Stderr, "\r%s   ", line)
	}
}

// Done ends the progress line.
func (p *Progress) Done() {
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.done && !p.drawn.IsZero() && !p.lines {
		fmt.Fprintln(os.Stderr)
	}
	p.done = true
}
