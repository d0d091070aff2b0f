package job

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"pwstore/coord"
	"pwstore/internal/infra/natsd"
	"pwstore/internal/tool/workload"
)

// TestWatchAdoptsWhileVerifying: every time the watcher adopts a step, the
// writer publishes the next one, and the watcher waits for its
// announcement before it verifies. A watcher that finished verifying
// before it ticked again would verify every snapshot it adopts; this one
// must stop after the first dataset, adopt the announced tick, and go on
// there - and still verify every step of the finished file.
func TestWatchAdoptsWhileVerifying(t *testing.T) {
	srv, err := natsd.Start(natsd.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	conn := func() *nats.Conn {
		nc, err := nats.Connect(srv.URL())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		return nc
	}
	path := filepath.Join(t.TempDir(), "w.pw")
	const steps = 8
	seen := make(chan int, steps) // steps the watcher adopted: the writer may go on
	werr := make(chan error, 1)
	go func() {
		_, err := RunWriter(path, WriterOptions{
			Params: workload.Params{Kind: workload.RR, Datasets: 20, Steps: steps},
			Config: coord.Config{TickLen: 50 * time.Millisecond, MinTickInterval: time.Millisecond, Announce: conn()},
			OnStep: func(s int) {
				for s < steps-1 {
					select {
					case n := <-seen:
						if n > s {
							return
						}
					case <-time.After(30 * time.Second):
						return // the watcher fails the test
					}
				}
			},
		})
		werr <- err
	}()
	sum, err := Watch(path, WatchOptions{
		Config:  coord.Config{Announce: conn()},
		Timeout: 30 * time.Second, Poll: time.Second, Fallback: time.Second,
		AfterTick: func(r *coord.Reader, info coord.TickInfo) error {
			n, err := CompleteSteps(r)
			if err != nil || !info.Changed || n == 0 || n >= steps {
				return err
			}
			seen <- n
			for deadline := time.Now().Add(30 * time.Second); !r.News(); time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					return errors.New("no announcement of the next step")
				}
			}
			return nil
		},
	})
	if err := <-werr; err != nil {
		t.Fatal("writer:", err)
	}
	if err != nil {
		t.Fatal("watch:", err)
	}
	t.Logf("%+v", sum)
	if sum.Steps != steps || sum.Errors != 0 || sum.Unverified != 0 {
		t.Fatalf("watcher verified %d of %d steps (%d unverified, %d errors)", sum.Steps, steps, sum.Unverified, sum.Errors)
	}
	if sum.PubP50 <= 0 {
		t.Fatalf("no time from publication to adoption measured (pub_ms_p50 %v) though every step was announced", sum.PubP50)
	}
	if sum.SnapshotsVerified >= sum.Ticks {
		t.Fatalf("%d snapshots verified in full of %d adopted: the watcher finished verifying before adopting the announced tick", sum.SnapshotsVerified, sum.Ticks)
	}
}
