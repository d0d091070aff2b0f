package collective

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

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

// TestDuplicateRank: two processes started as the same rank at once,
// while rank 0 listens, are caught, by the claim check or, when both claim
// before either listens, by the nonce check; every rank fails and rank 0
// says why, directly or in the abort of the rank that was claimed. (A rank
// 0 that starts after both left can only time out: the package doc.)
func TestDuplicateRank(t *testing.T) {
	s := startServer(t, natsd.Options{})
	nc, err := nats.Connect(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	announced, err := nc.SubscribeSync("pw.dup.world.all")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	ranks := []int{0, 1, 1}
	errs := make([]error, len(ranks))
	var wg sync.WaitGroup
	for i, r := range ranks {
		if i == 1 {
			// Rank 0 announces itself once it listens.
			if _, err := announced.NextMsg(10 * time.Second); err != nil {
				t.Fatalf("rank 0's announcement: %v", err)
			}
		}
		wg.Go(func() {
			c, err := Open(context.Background(), Config{Job: "dup", URL: s.URL(), Rank: r, Size: 3, JoinTimeout: 3 * time.Second})
			if err == nil {
				c.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	var ab *AbortError
	if err := errs[0]; (!errors.Is(err, ErrProtocol) && !errors.As(err, &ab)) || !strings.Contains(fmt.Sprint(err), "two processes claim rank 1") {
		t.Errorf("rank 0: %v", err)
	}
	for i, err := range errs[1:] {
		if err == nil {
			t.Errorf("rank 1 (process %d) joined beside its duplicate", i+1)
		}
	}
}
