package coord_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"pwstore/collective"
	"pwstore/coord"
	"pwstore/internal/infra/natsd"
)

// TestParallelOnCluster: a 3-rank parallel writer and 3 collective reader
// ranks spread over a 3-server NATS cluster (one server per node): the
// readers follow the writer, all agreeing on the index. Then one server
// dies: every writer rank fails (those on it saying the server was lost),
// the file recovers, and every step a reader saw is still there.
func TestParallelOnCluster(t *testing.T) {
	servers, err := natsd.StartCluster(3, natsd.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, s := range servers {
			s.Shutdown()
		}
	}()
	const n = 3
	open := func(job string, shift int) []collective.Comm {
		return coord.OpenTestComms(t, job, n, func(r int) string { return servers[(r+shift)%3].URL() }, 5*time.Second)
	}
	wcomms, rcomms := open("writer", 0), open("reader", 1)
	path := filepath.Join(t.TempDir(), "cluster.pw")

	// Writers: step s extends /x to s+1 elements, rank s%3 writes s.
	werrs := make([]error, n)
	var wwg sync.WaitGroup
	for r := range n {
		wwg.Go(func() {
			w, err := coord.Create(path, coord.Config{TickLen: 20 * time.Millisecond, Comm: wcomms[r], KeepMD: true})
			if err != nil {
				werrs[r] = err
				return
			}
			defer w.Close()
			werrs[r] = writeSteps(w, r, n)
		})
	}

	// Readers follow until they have seen 30 steps.
	seen := make([]uint64, n)
	rerrs := make([]error, n)
	digests := make([]uint64, n)
	var rwg sync.WaitGroup
	for r := range n {
		rwg.Go(func() {
			rd, err := coord.OpenReader(path, coord.Config{ManualTicks: true, Comm: rcomms[r], OpenWait: 30 * time.Second})
			if err != nil {
				rerrs[r] = err
				return
			}
			defer rd.Close()
			// Every rank adopts the same ticks, so all stop at the same
			// one (the count of complete steps may differ by the last
			// element, written between two ranks' reads).
			for shape := uint64(0); shape < 31; {
				time.Sleep(10 * time.Millisecond)
				if _, err := rd.Tick(); err != nil {
					rerrs[r] = err
					return
				}
				if seen[r], shape, err = checkSteps(rd); err != nil {
					rerrs[r] = err
					return
				}
			}
			_, digests[r] = rd.IndexDigest()
		})
	}
	rwg.Wait()
	for r, err := range rerrs {
		if err != nil {
			t.Fatalf("reader rank %d: %v", r, err)
		}
	}
	if digests[0] != digests[1] || digests[1] != digests[2] {
		t.Errorf("reader ranks disagree on the index: %x", digests)
	}

	servers[2].Shutdown() // the node of writer rank 2 and reader rank 1
	wwg.Wait()
	for r, err := range werrs {
		if err == nil {
			t.Errorf("writer rank %d went on without its server", r)
		}
	}
	if !errors.Is(werrs[2], collective.ErrConnLost) {
		t.Errorf("writer rank 2: %v, want the lost server", werrs[2])
	}

	if _, err := coord.Recover(path, coord.Config{ForceRecover: true}); err != nil {
		t.Fatalf("recover: %v", err)
	}
	rd, err := coord.OpenReader(path, coord.Config{ManualTicks: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	got, _, err := checkSteps(rd)
	if err != nil {
		t.Fatalf("recovered file: %v", err)
	}
	if most := max(seen[0], seen[1], seen[2]); got < most {
		t.Errorf("recovered file has %d steps, readers had seen %d", got, most)
	}
	if err := rd.Check(); err != nil {
		t.Errorf("recovered file: %v", err)
	}
}

// writeSteps writes steps until the writer fails (or 100,000 steps).
func writeSteps(w *coord.Writer, rank, size int) error {
	d, err := w.CreateDataset("/x", coord.Spec{Type: coord.Int64, Shape: []uint64{0}, MaxShape: []uint64{coord.Unlimited}, Chunk: []uint64{64}})
	if err != nil {
		return err
	}
	var b [8]byte
	for s := uint64(0); s < 100000; s++ {
		if err := d.Extend(s + 1); err != nil {
			return err
		}
		if int(s)%size == rank {
			binary.LittleEndian.PutUint64(b[:], s)
			if err := d.WriteSlab([]uint64{s}, []uint64{1}, b[:]); err != nil {
				return err
			}
		}
		if err := w.Sync(); err != nil {
			return err
		}
		time.Sleep(2 * time.Millisecond)
	}
	return nil
}

// checkSteps returns how many complete steps /x holds in the adopted tick,
// every one with its value, and its length.
func checkSteps(rd *coord.Reader) (complete, length uint64, err error) {
	v, err := rd.Dataset("/x")
	if errors.Is(err, coord.ErrNotFound) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, err
	}
	shape, err := v.Shape()
	if err != nil || shape[0] == 0 {
		return 0, 0, err
	}
	buf := make([]byte, 8*shape[0])
	if err := v.ReadSlab([]uint64{0}, shape, buf); err != nil {
		return 0, 0, err
	}
	// A tick may end inside a step, between the extension (a collective
	// call, which may hit a sync point) and the write: the last element
	// may still be unwritten (zero).
	n := shape[0]
	for i := range n {
		switch got := binary.LittleEndian.Uint64(buf[8*i:]); {
		case got == i:
		case i == n-1 && got == 0:
			n--
		default:
			return 0, 0, fmt.Errorf("step %d holds %d", i, got)
		}
	}
	return n, shape[0], nil
}
