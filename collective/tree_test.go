package collective

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"pwstore/internal/infra/natsd"
)

// TestSuiteTree runs the suite on trees of several levels (small fanouts),
// in memory and over NATS, where a fanout of 8 leaves small jobs flat.
func TestSuiteTree(t *testing.T) {
	for _, tc := range []struct {
		nats      bool
		n, fanout int
	}{{false, 11, 2}, {false, 10, 3}, {true, 7, 2}, {true, 9, 3}} {
		t.Run(fmt.Sprintf("nats=%v/n=%d/k=%d", tc.nats, tc.n, tc.fanout), func(t *testing.T) {
			var comms []Comm
			if tc.nats {
				s := startServer(t, natsd.Options{MaxPayload: testMaxPayload})
				var err error
				comms, err = openAll(context.Background(), tc.n, Config{Job: "tree", URL: s.URL(), Timeout: 20 * time.Second, Fanout: tc.fanout})
				if err != nil {
					t.Fatal(err)
				}
			} else {
				comms = NewLocalWith(tc.n, LocalOptions{Timeout: 20 * time.Second, MaxPayload: testMaxPayload, Fanout: tc.fanout})
			}
			t.Cleanup(func() { closeAll(comms) })
			mustAll(t, onAll(comms, func(c Comm) error { return exercise(context.Background(), c, 100<<10) }))
			mustAll(t, onAll(comms, func(c Comm) error { return decideRound(c) }))
		})
	}
}

// decideRound checks Decide: rank 0 sees the minimum and maximum of every
// rank's values, and every rank gets rank 0's verdict.
func decideRound(c Comm) error {
	n, r := c.Size(), c.Rank()
	got, err := c.Decide(context.Background(), Min, []int64{int64(r), ^int64(r)}, func(red []int64) []byte {
		return fmt.Appendf(nil, "min %d max %d", red[0], ^red[1])
	})
	if err != nil {
		return err
	}
	if want := fmt.Sprintf("min 0 max %d", n-1); string(got) != want {
		return fmt.Errorf("decide: got %q, want %q", got, want)
	}
	return nil
}

// TestTreeTimeoutNamesSubtree: a missing inner rank is named, with its
// subtree, by its parent.
func TestTreeTimeoutNamesSubtree(t *testing.T) {
	comms := NewLocalWith(7, LocalOptions{Timeout: 300 * time.Millisecond, Fanout: 2})
	defer closeAll(comms)
	// Rank 2's children are 5 and 6; rank 0's are 1 and 2.
	live := []Comm{comms[0], comms[1], comms[3], comms[4], comms[5], comms[6]}
	errs := onAll(live, func(c Comm) error { return c.Barrier(context.Background()) })
	if err := errs[0]; !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "rank 2 (or one of the 2 ranks below it) did not answer barrier #1") {
		t.Errorf("rank 0: %v", err)
	}
	for i, err := range errs {
		if err == nil {
			t.Errorf("live rank #%d passed a barrier without rank 2", i)
		}
	}
}

// TestSameJobID: a second job with the same job id on one server is
// caught as processes claiming ranks already taken: its ranks are refused
// by the claim check (the first job's ranks answer their claims) before
// they send anything, and the first job's ranks fail too, so no rank of
// either job goes on as if nothing happened.
func TestSameJobID(t *testing.T) {
	s := startServer(t, natsd.Options{})
	cfg := Config{Job: "same", URL: s.URL(), Timeout: 5 * time.Second, JoinTimeout: 5 * time.Second}
	a, err := openAll(context.Background(), 2, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll(a)
	// Job A runs barriers until it fails; job B starts meanwhile.
	aErrs := make(chan error, 2)
	for _, c := range a {
		go func() {
			for {
				if err := c.Barrier(context.Background()); err != nil {
					aErrs <- err
					return
				}
			}
		}()
	}
	var wg sync.WaitGroup
	for r := range 2 {
		wg.Go(func() {
			c := cfg
			c.Rank, c.Size = r, 2
			b, err := Open(context.Background(), c)
			if err == nil {
				defer b.Close()
				err = b.Barrier(context.Background())
			}
			if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("two processes claim rank %d", r)) ||
				!strings.Contains(err.Error(), "a running process answered") {
				t.Errorf("job B rank %d: %v, want its claim answered by job A", r, err)
			}
		})
	}
	wg.Wait()
	for range 2 {
		select {
		case err := <-aErrs:
			if !strings.Contains(err.Error(), "two processes claim rank") {
				t.Errorf("job A: %v, want two processes claiming a rank", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("job A went on with job B's ranks on its subjects")
		}
	}
}

// TestConnLost: when the server goes away mid-collective, every rank
// reports the lost connection (without credentials), at once rather than
// after its collective timeout.
func TestConnLost(t *testing.T) {
	s, err := natsd.Start(natsd.Options{User: "u", Password: "sekrit"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown()
	url := strings.Replace(s.URL(), "nats://", "nats://u:sekrit@", 1)
	comms, err := openAll(context.Background(), 3, Config{Job: "lost", URL: url, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll(comms)
	// Ranks 0 and 1 wait in a barrier for rank 2, which never comes.
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for r := range 2 {
		wg.Go(func() { errs[r] = comms[r].Barrier(context.Background()) })
	}
	time.Sleep(100 * time.Millisecond)
	s.Shutdown()
	wg.Wait()
	for r, err := range errs {
		if !errors.Is(err, ErrConnLost) || errors.Is(err, ErrTimeout) {
			t.Errorf("rank %d: %v, want ErrConnLost", r, err)
			continue
		}
		if !strings.Contains(err.Error(), "lost connection to the NATS server at nats://") || strings.Contains(err.Error(), "sekrit") {
			t.Errorf("rank %d: %q: want the server's URL without its password", r, err)
		}
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"nats://127.0.0.1:4222":                      "nats://127.0.0.1:4222",
		"nats://tok@h:1":                             "nats://REDACTED@h:1",
		"nats://u:p@h:1, tls://v:q@g:2":              "nats://REDACTED@h:1,tls://REDACTED@g:2",
		"nats://u:p%zz@h:1":                          "REDACTED@h:1",
		"nats://s3cr3t:x@[::1]:4222,nats://10.0.0.1": "nats://REDACTED@[::1]:4222,nats://10.0.0.1",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}
