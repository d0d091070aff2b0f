package collective

import (
	"context"
	"errors"
	"testing"
	"time"

	"pwstore/internal/infra/natsd"
)

// startCluster starts 3 routed servers (stopped at cleanup, which may
// come after a test killed one).
func startCluster(t *testing.T, opts natsd.Options) []*natsd.Server {
	t.Helper()
	servers, err := natsd.StartCluster(3, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, s := range servers {
			s.Shutdown()
		}
	})
	return servers
}

// openSpread opens n ranks, rank r on server r mod len(servers): one
// server per node, each node's ranks on it.
func openSpread(t *testing.T, servers []*natsd.Server, n int, cfg Config) []Comm {
	t.Helper()
	comms, err := openEach(context.Background(), n, cfg, func(r int) string { return servers[r%len(servers)].URL() })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeAll(comms) })
	return comms
}

// TestCluster: the suite on ranks spread over a 3-server cluster (a tree
// of several levels); then one server dies mid-barrier: its ranks report
// the lost server, and every other rank fails too (the abort of a rank
// that reconnected to another server, or a timeout naming a missing rank),
// none hangs or succeeds.
func TestCluster(t *testing.T) {
	servers := startCluster(t, natsd.Options{MaxPayload: testMaxPayload})
	const n = 9
	comms := openSpread(t, servers, n, Config{Job: "cluster", Timeout: 5 * time.Second, Fanout: 2})
	mustAll(t, onAll(comms, func(c Comm) error { return exercise(context.Background(), c, 100<<10) }))

	// Ranks 0-7 wait in a barrier for rank 8 (on server 2), which does
	// not come; server 2 dies.
	errs := make(chan error, n-1)
	for _, c := range comms[:n-1] {
		go func() { errs <- c.Barrier(context.Background()) }()
	}
	time.Sleep(100 * time.Millisecond)
	servers[2].Shutdown()
	lost := 0
	for range n - 1 {
		err := <-errs
		switch {
		case errors.Is(err, ErrConnLost):
			lost++
		case isAbort(err), errors.Is(err, ErrTimeout):
		default:
			t.Errorf("barrier with a dead server: %v", err)
		}
	}
	if lost < 2 { // ranks 2 and 5 were on server 2
		t.Errorf("%d ranks reported the lost server, want at least 2", lost)
	}
}
