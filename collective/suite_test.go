package collective

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"pwstore/internal/infra/natsd"
)

// The same suite runs over the in-memory twin and over NATS (goroutine
// ranks, each with its own connection to an embedded server whose small max
// payload forces chunking).

// opener returns n connected communicators with the given timeout.
type opener func(t *testing.T, n int, timeout time.Duration) []Comm

func localOpener(t *testing.T, n int, timeout time.Duration) []Comm {
	comms := NewLocalWith(n, LocalOptions{Timeout: timeout, MaxPayload: testMaxPayload})
	t.Cleanup(func() { closeAll(comms) })
	return comms
}

// testMaxPayload is small so that ordinary test payloads travel in chunks.
const testMaxPayload = 64 << 10

func startServer(t testing.TB, opts natsd.Options) *natsd.Server {
	t.Helper()
	s, err := natsd.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

func natsOpener(t *testing.T, n int, timeout time.Duration) []Comm {
	s := startServer(t, natsd.Options{MaxPayload: testMaxPayload})
	comms, err := openAll(context.Background(), n, Config{Job: "suite", URL: s.URL(), Timeout: timeout, JoinTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeAll(comms) })
	return comms
}

// openAll opens n ranks of cfg concurrently (the handshake needs them all).
func openAll(ctx context.Context, n int, cfg Config) ([]Comm, error) {
	return openEach(ctx, n, cfg, func(int) string { return cfg.URL })
}

// openEach is openAll with rank r on the server at urlOf(r).
func openEach(ctx context.Context, n int, cfg Config, urlOf func(r int) string) ([]Comm, error) {
	comms := make([]Comm, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for r := range n {
		wg.Go(func() {
			c := cfg
			c.Rank, c.Size, c.URL = r, n, urlOf(r)
			comms[r], errs[r] = Open(ctx, c)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		closeAll(comms)
		return nil, err
	}
	return comms, nil
}

func closeAll(comms []Comm) {
	for _, c := range comms {
		if c != nil {
			_ = c.Close()
		}
	}
}

// onAll runs f on every rank concurrently and returns each rank's error.
func onAll(comms []Comm, f func(c Comm) error) []error {
	errs := make([]error, len(comms))
	var wg sync.WaitGroup
	for r, c := range comms {
		wg.Go(func() { errs[r] = f(c) })
	}
	wg.Wait()
	return errs
}

func mustAll(t *testing.T, errs []error) {
	t.Helper()
	for r, err := range errs {
		if err != nil {
			t.Errorf("rank %d: %v", r, err)
		}
	}
}

// payload is rank r's deterministic data of n bytes for round k.
func payload(r, k, n int) []byte {
	b := make([]byte, n)
	x := uint32(r*7919 + k*104729 + 1)
	for i := range b {
		x = x*1664525 + 1013904223
		b[i] = byte(x >> 24)
	}
	return b
}

// exercise runs every collective on c and checks the results; every rank
// of a job runs it. It is also what the rank processes run.
func exercise(ctx context.Context, c Comm, big int) error {
	n, r := c.Size(), c.Rank()
	if err := c.Barrier(ctx); err != nil {
		return fmt.Errorf("barrier: %w", err)
	}
	for root := range n {
		for _, size := range []int{0, 100, big} {
			var in []byte
			if r == root {
				in = payload(root, size, size)
			}
			got, err := c.Bcast(ctx, root, in)
			if err != nil {
				return fmt.Errorf("bcast root %d size %d: %w", root, size, err)
			}
			if !bytes.Equal(got, payload(root, size, size)) {
				return fmt.Errorf("bcast root %d size %d: got %d bytes, not root's data", root, size, len(got))
			}
		}
	}
	for _, root := range []int{0, n - 1} {
		got, err := c.Gather(ctx, root, payload(r, 1, 10+r*big/n))
		if err != nil {
			return fmt.Errorf("gather root %d: %w", root, err)
		}
		if r != root {
			if got != nil {
				return fmt.Errorf("gather root %d: non-root got %d entries", root, len(got))
			}
			continue
		}
		if err := checkAll(got, n, func(i int) []byte { return payload(i, 1, 10+i*big/n) }); err != nil {
			return fmt.Errorf("gather root %d: %w", root, err)
		}
	}
	got, err := c.Allgather(ctx, payload(r, 2, 1000*r))
	if err != nil {
		return fmt.Errorf("allgather: %w", err)
	}
	if err := checkAll(got, n, func(i int) []byte { return payload(i, 2, 1000*i) }); err != nil {
		return fmt.Errorf("allgather: %w", err)
	}
	ints := []int64{int64(r), -int64(r) * 3, 1}
	for _, tc := range []struct {
		op   Op
		want []int64
	}{
		{Sum, []int64{int64(n * (n - 1) / 2), -3 * int64(n*(n-1)/2), int64(n)}},
		{Min, []int64{0, -3 * int64(n-1), 1}},
		{Max, []int64{int64(n - 1), 0, 1}},
	} {
		got, err := c.AllreduceInt64(ctx, tc.op, ints)
		if err != nil {
			return fmt.Errorf("allreduce int64 %v: %w", tc.op, err)
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			return fmt.Errorf("allreduce int64 %v: got %v, want %v", tc.op, got, tc.want)
		}
	}
	floats := []float64{float64(r) + 0.5, -float64(r)}
	for _, tc := range []struct {
		op   Op
		want []float64
	}{
		{Sum, []float64{float64(n*(n-1)/2) + 0.5*float64(n), -float64(n * (n - 1) / 2)}},
		{Min, []float64{0.5, -float64(n - 1)}},
		{Max, []float64{float64(n-1) + 0.5, 0}},
	} {
		got, err := c.AllreduceFloat64(ctx, tc.op, floats)
		if err != nil {
			return fmt.Errorf("allreduce float64 %v: %w", tc.op, err)
		}
		for i := range got {
			if math.Abs(got[i]-tc.want[i]) > 1e-9 {
				return fmt.Errorf("allreduce float64 %v: got %v, want %v", tc.op, got, tc.want)
			}
		}
	}
	return c.Barrier(ctx)
}

func checkAll(got [][]byte, n int, want func(i int) []byte) error {
	if len(got) != n {
		return fmt.Errorf("%d entries, want %d", len(got), n)
	}
	for i := range got {
		if !bytes.Equal(got[i], want(i)) {
			return fmt.Errorf("entry %d: %d bytes, not rank %d's data", i, len(got[i]), i)
		}
	}
	return nil
}

var openers = []struct {
	name string
	open opener
}{{"local", localOpener}, {"nats", natsOpener}}

func TestSuite(t *testing.T) {
	for _, o := range openers {
		for _, n := range []int{1, 2, 3, 5} {
			t.Run(fmt.Sprintf("%s/%d", o.name, n), func(t *testing.T) {
				comms := o.open(t, n, 10*time.Second)
				// 300 KB: several chunks of the 64 KiB max payload.
				mustAll(t, onAll(comms, func(c Comm) error { return exercise(context.Background(), c, 300<<10) }))
			})
		}
	}
}

// TestMissingRank: a rank that never comes makes the others fail with
// ErrTimeout naming it, not hang.
func TestMissingRank(t *testing.T) {
	for _, o := range openers {
		t.Run(o.name, func(t *testing.T) {
			comms := o.open(t, 4, 300*time.Millisecond)
			errs := onAll(comms[:3], func(c Comm) error {
				if err := c.Barrier(context.Background()); err != nil {
					return err
				}
				_, err := c.Bcast(context.Background(), 1, []byte("x"))
				return err
			})
			for r, err := range errs {
				if err == nil {
					t.Fatalf("rank %d: no error with rank 3 missing", r)
				}
				if !errors.Is(err, ErrTimeout) && !isAbort(err) {
					t.Errorf("rank %d: %v, want a timeout or an abort", r, err)
				}
				// Rank 0 waits for rank 3's arrival; the others wait for
				// rank 0 and may time out on it before its abort arrives.
				if r == 0 && !strings.Contains(err.Error(), "rank 3 did not answer barrier #1") {
					t.Errorf("rank 0: %q does not name rank 3 and barrier #1", err)
				}
			}
			// The communicator stays broken.
			if err := comms[0].Barrier(context.Background()); err == nil {
				t.Error("barrier after a failure succeeded")
			}
		})
	}
}

func isAbort(err error) bool {
	var ab *AbortError
	return errors.As(err, &ab)
}

// TestAbort: pending and later collectives of the other ranks fail with the
// aborting rank and its reason.
func TestAbort(t *testing.T) {
	for _, o := range openers {
		t.Run(o.name, func(t *testing.T) {
			comms := o.open(t, 3, 10*time.Second)
			errs := make(chan error, 2)
			for _, c := range comms[1:] {
				go func() { errs <- c.Barrier(context.Background()) }()
			}
			time.Sleep(50 * time.Millisecond) // let them wait (the test passes either way)
			comms[0].Abort("disk full")
			for range 2 {
				err := <-errs
				var ab *AbortError
				if !errors.As(err, &ab) || ab.Rank != 0 || ab.Reason != "disk full" {
					t.Errorf("got %v, want rank 0's abort", err)
				}
			}
			for r, c := range comms {
				if _, err := c.Allgather(context.Background(), nil); !isAbort(err) {
					t.Errorf("rank %d: later allgather: %v, want the abort", r, err)
				}
			}
		})
	}
}

// TestMismatch: ranks calling different collectives, or disagreeing on the
// root, get ErrProtocol (or the abort of a rank that got it), never mixed data.
func TestMismatch(t *testing.T) {
	for _, o := range openers {
		t.Run(o.name+"/op", func(t *testing.T) {
			comms := o.open(t, 2, 2*time.Second)
			errs := onAll(comms, func(c Comm) error {
				if c.Rank() == 0 {
					_, err := c.Allgather(context.Background(), []byte("a"))
					return err
				}
				_, err := c.AllreduceInt64(context.Background(), Sum, []int64{1})
				return err
			})
			checkProtocol(t, errs, "different collectives")
		})
		t.Run(o.name+"/root", func(t *testing.T) {
			comms := o.open(t, 3, 2*time.Second)
			errs := onAll(comms, func(c Comm) error {
				root := 0
				if c.Rank() == 2 {
					root = 2
				}
				if _, err := c.Bcast(context.Background(), root, []byte("data")); err != nil {
					return err
				}
				// Rank 1 may have its data from rank 0 before rank 2's
				// arrives: it fails at the next collective.
				return c.Barrier(context.Background())
			})
			checkProtocol(t, errs, "")
		})
		t.Run(o.name+"/length", func(t *testing.T) {
			comms := o.open(t, 2, 2*time.Second)
			errs := onAll(comms, func(c Comm) error {
				_, err := c.AllreduceFloat64(context.Background(), Max, make([]float64, 1+c.Rank()))
				return err
			})
			checkProtocol(t, errs, "values")
		})
	}
}

// checkProtocol wants every rank failed, at least one with ErrProtocol
// whose message contains want.
func checkProtocol(t *testing.T, errs []error, want string) {
	t.Helper()
	seen := false
	for r, err := range errs {
		if err == nil {
			t.Errorf("rank %d: no error", r)
			continue
		}
		if errors.Is(err, ErrProtocol) && strings.Contains(err.Error(), want) {
			seen = true
		}
	}
	if !seen {
		t.Errorf("no rank reported a protocol violation containing %q: %v", want, errs)
	}
}

func TestContextCancel(t *testing.T) {
	for _, o := range openers {
		t.Run(o.name, func(t *testing.T) {
			comms := o.open(t, 2, 10*time.Second)
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			if err := comms[0].Barrier(ctx); !errors.Is(err, context.Canceled) {
				t.Fatalf("barrier with a canceled context: %v", err)
			}
			// The other rank hears of it rather than waiting for its timeout.
			if err := comms[1].Barrier(context.Background()); !isAbort(err) {
				t.Fatalf("other rank: %v, want an abort", err)
			}
		})
	}
}

func TestBadRoot(t *testing.T) {
	c := NewLocal(2)
	defer closeAll(c)
	if _, err := c[0].Bcast(context.Background(), 2, nil); err == nil {
		t.Fatal("bcast with root 2 of 2 succeeded")
	}
}

func TestClose(t *testing.T) {
	c := NewLocal(1)
	if err := c[0].Close(); err != nil {
		t.Fatal(err)
	}
	if err := c[0].Barrier(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("barrier after close: %v", err)
	}
}
