package collective

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

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
// messages: at most 2N deliveries per barrier, bcast, gather, allgather,
// allreduce and decide. A listener on the job's subjects counts the
// deliveries of each collective by its sequence number (not the claims,
// one token deeper, which a listener would delay), so the startup
// handshake, whose hellos a rank repeats when the welcome is slow to come
// (under load), is not charged to the first collective.
func TestMessagesPerCollective(t *testing.T) {
	const n = 64
	s := startServer(t, natsd.Options{})
	tap, err := nats.Connect(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tap.Close)
	var mu sync.Mutex          // guards sent and bad
	sent := map[uint64]int64{} // deliveries by collective number
	var bad error
	sub, err := tap.Subscribe("pw.count.world.*", func(m *nats.Msg) {
		var msg message
		err := decodeMessage(m.Data, &msg)
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err != nil:
			bad = err
		case m.Subject == "pw.count.world.all":
			sent[msg.Seq] += n - 1 // every rank but the sender (NoEcho)
		default:
			sent[msg.Seq]++
		}
	})
	if err == nil {
		err = sub.SetPendingLimits(-1, -1)
	}
	if err == nil {
		err = tap.Flush()
	}
	if err != nil {
		t.Fatal(err)
	}
	count := func(seq uint64) int64 {
		mu.Lock()
		defer mu.Unlock()
		if bad != nil {
			t.Fatal(bad)
		}
		return sent[seq]
	}
	comms, err := openAll(context.Background(), n, Config{Job: "count", URL: s.URL(), Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeAll(comms) })
	ops := []struct {
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
	}
	const want = 2 * (n - 1)
	for i, op := range ops {
		seq := uint64(i + 1) // the handshake is collective 0
		mustAll(t, onAll(comms, op.f))
		// The last messages may still be on their way to the listener.
		for end := time.Now().Add(5 * time.Second); count(seq) < want && time.Now().Before(end); {
			time.Sleep(10 * time.Millisecond)
		}
		if got := count(seq); got != want {
			t.Errorf("%s: %d messages for %d ranks, want %d", op.name, got, n, want)
		}
	}
	// A late repeat of an earlier collective's message shows here.
	for i, op := range ops {
		if got := count(uint64(i + 1)); got != want {
			t.Errorf("%s: %d messages in the end, want %d", op.name, got, want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for seq := range sent {
		if seq > uint64(len(ops)) {
			t.Errorf("messages of collective #%d, after the last one run", seq)
		}
	}
}
