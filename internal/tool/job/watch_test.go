package job

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"pwstore/collective"
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
func TestWatchAdoptsWhileVerifying(t *testing.T) { adoptsWhileVerifying(t, true) }

// TestWatchPeeksWhileVerifying: the same with a writer that announces
// nothing to a watcher that listens (its fallback a second): the watcher
// waits until the metadata file's header names the next tick, and must
// find it there itself while it verifies (busyPeek), stop after the first
// dataset and adopt it, rather than verify the snapshot in full and sleep
// its fallback.
func TestWatchPeeksWhileVerifying(t *testing.T) { adoptsWhileVerifying(t, false) }

// adoptsWhileVerifying runs the two tests above: the writer announces its
// ticks or not.
func adoptsWhileVerifying(t *testing.T, announce bool) {
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
	wcfg := coord.Config{TickLen: 50 * time.Millisecond, MinTickInterval: time.Millisecond}
	if announce {
		wcfg.Announce = conn()
	}
	go func() {
		_, err := RunWriter(path, WriterOptions{
			Params: workload.Params{Kind: workload.RR, Datasets: 20, Steps: steps},
			Config: wcfg,
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
	// The watcher's reader listens either way; without announcements the
	// writer's tick is in the header.
	newer := func(r *coord.Reader) bool {
		if announce {
			return r.News()
		}
		lag, err := r.Lag()
		return err == nil && lag > 0
	}
	sum, err := Watch(path, WatchOptions{
		Config:  coord.Config{Announce: conn()},
		Timeout: 30 * time.Second, Poll: time.Second, Fallback: time.Second,
		AfterTick: func(r *coord.Reader, info coord.TickInfo) error {
			n, err := CompleteSteps(r)
			if err != nil || !info.Changed || n == 0 || n >= steps {
				return err
			}
			seen <- n
			for deadline := time.Now().Add(30 * time.Second); !newer(r); time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					return errors.New("the next step was not published")
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
		t.Fatalf("no time from publication to adoption measured (pub_ms_p50 %v)", sum.PubP50)
	}
	if sum.SnapshotsVerified >= sum.Ticks {
		t.Fatalf("%d snapshots verified in full of %d adopted: the watcher finished verifying before adopting the next tick (announced: %v)", sum.SnapshotsVerified, sum.Ticks, announce)
	}
}

// TestWatchFindsWrongValues: a finished round robin whose data file has one
// element changed fails a watcher and preader verify, whoever checks that
// element. Round robin's steps are small, so they are verified in batches,
// a dataset's steps in one read, and a reader of two ranks splits the
// datasets: every (dataset, step) must still be checked by one of them.
func TestWatchFindsWrongValues(t *testing.T) {
	dir := t.TempDir()
	clean := filepath.Join(dir, "clean.pw")
	p := workload.Params{Kind: workload.RR, Datasets: 7, Steps: 40}
	if _, err := RunWriter(clean, WriterOptions{Params: p, Config: coord.Config{TickLen: 20 * time.Millisecond}}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(clean)
	if err != nil {
		t.Fatal(err)
	}
	layout := p.Defaults().Layout(1)
	for i, c := range []struct{ d, s uint64 }{{0, 0}, {3, 17}, {6, 39}, {5, 1}} {
		ds := layout[c.d]
		var v [4]byte
		workload.Put(v[:], ds.DType, ds.ID, c.s, 0)
		at := bytes.Index(data, v[:])
		if at < 0 || bytes.LastIndex(data, v[:]) != at {
			t.Fatalf("%s step %d: its first value is not in the file once", ds.Path, c.s)
		}
		bad := bytes.Clone(data)
		bad[at] ^= 0x40
		path := filepath.Join(dir, fmt.Sprintf("bad%d.pw", i))
		if err := os.WriteFile(path, bad, 0o644); err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("%s step %d", ds.Path, c.s)
		if _, err := Verify(path, coord.Config{}); err == nil || !strings.Contains(err.Error(), ds.Path) {
			t.Errorf("verify: %v, want an error naming %s", err, want)
		}
		one := watchOne(t, path)
		if one == nil || !strings.Contains(one.Error(), ds.Path) {
			t.Errorf("one rank: %v, want an error naming %s", one, want)
		}
		comms := collective.NewLocal(2)
		errs := make(chan error, 2)
		for _, comm := range comms {
			go func() {
				_, err := Watch(path, WatchOptions{Config: coord.Config{Comm: comm}, Timeout: 10 * time.Second, Poll: time.Millisecond})
				errs <- err
			}()
		}
		named := false
		for range comms {
			err := <-errs
			if err == nil {
				t.Errorf("two ranks: a rank found nothing wrong, want an error naming %s", want)
				continue
			}
			named = named || strings.Contains(err.Error(), ds.Path)
		}
		if !named {
			t.Errorf("two ranks: no rank named %s", want)
		}
	}
	// The clean file passes all three.
	if _, err := Verify(clean, coord.Config{}); err != nil {
		t.Fatal(err)
	}
	if err := watchOne(t, clean); err != nil {
		t.Fatal(err)
	}
}

// watchOne follows the finished file at path with one rank.
func watchOne(t *testing.T, path string) error {
	t.Helper()
	_, err := Watch(path, WatchOptions{Timeout: 10 * time.Second, Poll: time.Millisecond})
	return err
}
