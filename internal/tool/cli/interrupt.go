package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// EnvLocalRank, set by the local launcher in its ranks' environment, says
// that the launcher relays interruptions: such a rank ignores SIGINT (a
// terminal sends it to the whole process group) and stops on the
// launcher's SIGTERM alone.
const EnvLocalRank = "PW_LOCAL_RANK"

// Interrupt turns the first SIGINT or SIGTERM into a request to stop
// cleanly and restores the default action at once, so that a second
// signal ends the process immediately.
type Interrupt struct {
	ctx    context.Context // done at the first signal
	cancel context.CancelFunc
	ch     chan os.Signal
	sigs   []os.Signal
	sig    os.Signal // the first signal; written before cancel
	wg     sync.WaitGroup
	once   sync.Once
}

// NewInterrupt starts catching the signals; Stop ends that.
func NewInterrupt() *Interrupt {
	in := &Interrupt{ch: make(chan os.Signal, 1), sigs: []os.Signal{os.Interrupt, syscall.SIGTERM}}
	if os.Getenv(EnvLocalRank) == "1" {
		signal.Ignore(os.Interrupt)
		in.sigs = in.sigs[1:]
	}
	in.ctx, in.cancel = context.WithCancel(context.Background())
	signal.Notify(in.ch, in.sigs...)
	in.wg.Add(1)
	go func() {
		defer in.wg.Done()
		s, ok := <-in.ch
		if !ok {
			return
		}
		signal.Reset(in.sigs...)
		in.sig = s
		in.cancel()
	}()
	return in
}

// Done is closed at the first signal.
func (in *Interrupt) Done() <-chan struct{} { return in.ctx.Done() }

// Context is done at the first signal.
func (in *Interrupt) Context() context.Context { return in.ctx }

// Err is nil before the first signal; after it, an error saying what, with
// the exit status 128 + the signal's number.
func (in *Interrupt) Err(what string) error {
	if in.ctx.Err() == nil || in.sig == nil {
		return nil // no signal (Stop also ends the context)
	}
	code, name := ExitFail, in.sig.String()
	if s, ok := in.sig.(syscall.Signal); ok {
		code = 128 + int(s)
		name = map[syscall.Signal]string{syscall.SIGINT: "SIGINT", syscall.SIGTERM: "SIGTERM"}[s]
	}
	return &CodeError{Code: code, Err: fmt.Errorf("interrupted by %s: %s", name, what)}
}

// Stop stops catching the signals (the default actions return).
func (in *Interrupt) Stop() {
	in.once.Do(func() {
		signal.Stop(in.ch)
		close(in.ch)
		in.wg.Wait()
		in.cancel()
	})
}
