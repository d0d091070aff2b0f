package collective

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"pwstore/internal/infra/natsd"
)

// TestLateRankZero: hellos sent before rank 0 listens are lost; the
// resends get through.
func TestLateRankZero(t *testing.T) {
	s := startServer(t, natsd.Options{})
	cfg := Config{Job: "late0", URL: s.URL(), Size: 2, JoinTimeout: 20 * time.Second}
	res := make(chan error, 1)
	var c1 Comm
	go func() {
		c := cfg
		c.Rank = 1
		var err error
		c1, err = Open(context.Background(), c)
		res <- err
	}()
	time.Sleep(300 * time.Millisecond)
	c0, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c0.Close()
	if err := <-res; err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	mustAll(t, onAll([]Comm{c0, c1}, func(c Comm) error { return c.Barrier(context.Background()) }))
}

// TestJoinTimeout: a rank that never starts fails the handshake on every
// rank, rank 0 naming it.
func TestJoinTimeout(t *testing.T) {
	s := startServer(t, natsd.Options{})
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for r := range 3 {
		wg.Go(func() {
			c, err := Open(context.Background(), Config{Job: "partial", URL: s.URL(), Rank: r, Size: 4, JoinTimeout: 500 * time.Millisecond})
			if err == nil {
				c.Close()
			}
			errs[r] = err
		})
	}
	wg.Wait()
	for r, err := range errs {
		if err == nil {
			t.Fatalf("rank %d joined a job missing rank 3", r)
		}
	}
	if !errors.Is(errs[0], ErrTimeout) || !strings.Contains(errs[0].Error(), "rank 3 did not join") {
		t.Errorf("rank 0: %v", errs[0])
	}
}

// TestDuplicateRank: two processes started as the same rank are caught in
// the handshake.
func TestDuplicateRank(t *testing.T) {
	s := startServer(t, natsd.Options{})
	ranks := []int{0, 1, 1}
	errs := make([]error, len(ranks))
	var wg sync.WaitGroup
	for i, r := range ranks {
		wg.Go(func() {
			c, err := Open(context.Background(), Config{Job: "dup", URL: s.URL(), Rank: r, Size: 3, JoinTimeout: 3 * time.Second})
			if err == nil {
				c.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	if !errors.Is(errs[0], ErrProtocol) || !strings.Contains(errs[0].Error(), "two processes claim rank 1") {
		t.Errorf("rank 0: %v", errs[0])
	}
}
