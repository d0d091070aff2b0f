package collective

import (
	"context"
	"testing"
	"time"

	"pwstore/internal/infra/natsd"
)

// TestJoinAtScale: thousands of goroutine ranks, each with its own NATS
// connection to one server, join and run ten barriers in a row, every
// time. 4,096 ranks in a plain run; 256 under the race detector (which
// allows 8,128 goroutines in all) or with -short.
func TestJoinAtScale(t *testing.T) {
	n := 4096
	if raceEnabled || testing.Short() {
		n = 256
	}
	s := startServer(t, natsd.Options{})
	comms, err := openAll(context.Background(), n, Config{Job: "scale", URL: s.URL(), Timeout: 2 * time.Minute, JoinTimeout: 3 * time.Minute})
	if err != nil {
		t.Fatalf("%d ranks: join: %v", n, err)
	}
	t.Cleanup(func() { closeAll(comms) })
	for i := range 10 {
		errs := onAll(comms, func(c Comm) error { return c.Barrier(context.Background()) })
		for r, err := range errs {
			if err != nil {
				t.Fatalf("%d ranks: barrier %d: rank %d: %v", n, i+1, r, err)
			}
		}
	}
	t.Logf("%d ranks joined and passed 10 barriers; the server delivered %d messages", n, s.OutMsgs())
}

// TestMessagesPerCollective: the tree keeps every collective at O(N)
// messages, read from the server's counters: at most 2N per barrier,
// bcast, gather, allgather, allreduce and decide.
func TestMessagesPerCollective(t *testing.T) {
	const n = 64
	s := startServer(t, natsd.Options{})
	comms, err := openAll(context.Background(), n, Config{Job: "count", URL: s.URL(), Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeAll(comms) })
	for _, op := range []struct {
		name string
		f    func(c Comm) error
	}{
		{"barrier", func(c Comm) error { return c.Barrier(context.Background()) }},
		{"bcast", func(c Comm) error { _, err := c.Bcast(context.Background(), 3, []byte("x")); return err }},
		{"gather", func(c Comm) error { _, err := c.Gather(context.Background(), 0, []byte("x")); return err }},
		{"allgather", func(c Comm) error { _, err := c.Allgather(context.Background(), []byte("x")); return err }},
		{"allreduce", func(c Comm) error {
			_, err := c.AllreduceInt64(context.Background(), Sum, []int64{1})
			return err
		}},
		{"decide", func(c Comm) error {
			_, err := c.Decide(context.Background(), Max, []int64{1}, func([]int64) []byte { return nil })
			return err
		}},
	} {
		before := s.OutMsgs()
		mustAll(t, onAll(comms, op.f))
		// The server counts a message when it writes it out; the last
		// ones may still be on their way.
		var got int64
		for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
			if got = s.OutMsgs() - before; got >= 2*(n-1) {
				break
			}
		}
		if got != 2*(n-1) {
			t.Errorf("%s: %d messages for %d ranks, want %d", op.name, got, n, 2*(n-1))
		}
	}
}
