package coord_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/vmihailenco/msgpack/v5"

	"pwstore/collective"
	"pwstore/coord"
	"pwstore/internal/infra/launch"
	"pwstore/internal/tool/job"
	"pwstore/internal/tool/workload"
)

// rankRoles are the test processes that run as ranks of a launched job.
func rankRole(role, path string) int {
	env, err := collective.FromEnv(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cfg := env.Config()
	cfg.Timeout = 20 * time.Second
	comm, err := collective.Open(context.Background(), cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer comm.Close()
	switch role {
	case "pwriter":
		steps, _ := strconv.Atoi(os.Getenv("PW_TEST_STEPS"))
		delay, _ := time.ParseDuration(os.Getenv("PW_TEST_DELAY"))
		_, err = job.RunWriter(path, job.WriterOptions{
			Params:    workload.Params{Kind: workload.Kind(os.Getenv("PW_TEST_WORKLOAD")), Steps: steps, Side: 12, Datasets: 5, Elems: 3},
			Config:    coord.Config{TickLen: 20 * time.Millisecond, Comm: comm},
			StepDelay: delay,
		})
	case "divergent":
		err = divergent(path, comm)
	case "creader":
		var sum job.WatchSummary
		sum, err = job.Watch(path, job.WatchOptions{
			Config: coord.Config{Comm: comm}, Timeout: 30 * time.Second, Poll: time.Millisecond,
			FullEvery: 4, AfterTick: sameIndex(comm),
		})
		if comm.Rank() == 0 {
			fmt.Printf("ticks=%d snapshots=%d steps=%d errors=%d\n", sum.Ticks, sum.SnapshotsVerified, sum.Steps, sum.Errors)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "rank", comm.Rank(), "failed:", err)
		return 1
	}
	return 0
}

// sameIndex checks after every reader tick that all ranks report the same
// tick, that ranks holding the same tick hold the same index, and that rank
// 0's delta-built index equals the full one. A rank whose Tick met the
// writer finalising moved to the final tick alone and holds it until the
// next Tick (Reader.IndexDigest), so not every rank need hold the reported
// tick.
func sameIndex(comm collective.Comm) func(*coord.Reader, coord.TickInfo) error {
	return func(r *coord.Reader, info coord.TickInfo) error {
		if err := r.VerifyIndex(); err != nil {
			return err
		}
		held, digest := r.IndexDigest()
		if held < info.Tick {
			return fmt.Errorf("rank %d reported tick %d but holds tick %d", comm.Rank(), info.Tick, held)
		}
		mine, _ := msgpack.Marshal([3]uint64{info.Tick, held, digest})
		all, err := comm.Allgather(context.Background(), mine)
		if err != nil {
			return err
		}
		for rank, b := range all {
			var theirs [3]uint64
			if err := msgpack.Unmarshal(b, &theirs); err != nil {
				return err
			}
			if theirs[0] != info.Tick || theirs[1] == held && theirs[2] != digest {
				return fmt.Errorf("rank %d reported tick %d and holds tick %d index %x, rank %d reported tick %d and holds tick %d index %x",
					rank, theirs[0], theirs[1], theirs[2], comm.Rank(), info.Tick, held, digest)
			}
		}
		return nil
	}
}

// divergent: rank 1 creates another dataset than the others at call 3.
func divergent(path string, comm collective.Comm) error {
	w, err := coord.Create(path, coord.Config{ManualTicks: true, Comm: comm})
	if err != nil {
		return err
	}
	spec := coord.Spec{Type: coord.Int32, Shape: []uint64{8}, Chunk: []uint64{8}}
	for i, name := range []string{"/a", "/b", "/c", "/d"} {
		if i == 2 && comm.Rank() == 1 {
			name = "/other"
		}
		if _, err := w.CreateDataset(name, spec); err != nil {
			return err
		}
	}
	if err := w.EndTick(); err != nil {
		return err
	}
	return w.Close()
}

// runJob launches np ranks of this test binary in role and returns their
// output.
func runJob(t *testing.T, np int, role, path string, env ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := launch.Run(ctx, launch.Options{
		NP: np, Argv: []string{os.Args[0], "-test.run=^$"},
		Env:    append(os.Environ(), append(env, envRole+"="+role, "PW_TEST_FILE="+path)...),
		Stdout: &out, Stderr: &out, Grace: time.Second,
	})
	return out.String(), err
}

// TestSameFilesAnyRanks: a workload written by 1, 2 and 4 writer ranks reads
// back identically: shapes, attributes, values.
func TestSameFilesAnyRanks(t *testing.T) {
	for _, kind := range []string{"ckpt", "rr"} {
		var want map[string]uint64
		for _, np := range []int{1, 2, 4} {
			path := filepath.Join(t.TempDir(), fmt.Sprintf("%s%d.pw", kind, np))
			out, err := runJob(t, np, "pwriter", path, "PW_TEST_WORKLOAD="+kind, "PW_TEST_STEPS=12")
			if err != nil {
				t.Fatalf("%s with %d ranks: %v\n%s", kind, np, err, out)
			}
			got := fileDigest(t, path)
			if want == nil {
				want = got
				continue
			}
			if len(got) != len(want) {
				t.Fatalf("%s: %d ranks wrote %d datasets, 1 rank %d", kind, np, len(got), len(want))
			}
			for name, d := range want {
				if got[name] != d {
					t.Errorf("%s: %s differs between 1 and %d writer ranks", kind, name, np)
				}
			}
		}
	}
}

// fileDigest digests every dataset of a closed file: spec, attributes and
// values (for the time dataset, whose values are wall-clock times, only
// their count).
func fileDigest(t *testing.T, path string) map[string]uint64 {
	t.Helper()
	r, err := coord.OpenReader(path, coord.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Check(); err != nil {
		t.Fatal(err)
	}
	infos, err := r.Datasets()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]uint64{}
	for _, in := range infos {
		v, err := r.Dataset(in.Path)
		if err != nil {
			t.Fatal(err)
		}
		d := xxhash.New()
		fmt.Fprintf(d, "%+v", in.Spec)
		attrs, err := v.Attrs()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(d, "%+v", attrs)
		n := uint64(1)
		for _, x := range in.Spec.Shape {
			n *= x
		}
		buf := make([]byte, n*uint64(in.Spec.Type.Size()))
		if err := v.ReadSlab(make([]uint64, len(in.Spec.Shape)), in.Spec.Shape, buf); err != nil {
			t.Fatal(err)
		}
		if in.Path == workload.TimePath {
			for i := 0; i < len(buf); i += 8 {
				if binary.LittleEndian.Uint64(buf[i:]) == 0 {
					t.Fatalf("%s: step %d has no time", path, i/8)
				}
			}
		} else {
			d.Write(buf)
		}
		out[in.Path] = d.Sum64()
	}
	return out
}

// TestDivergentRank: a rank that makes another metadata call than the
// others is stopped at the next sync point, and the error names it.
func TestDivergentRank(t *testing.T) {
	path := filepath.Join(t.TempDir(), "div.pw")
	out, err := runJob(t, 3, "divergent", path)
	if err == nil {
		t.Fatalf("divergent job succeeded:\n%s", out)
	}
	want := `rank 1 made call #3 CreateDataset("/other") where rank 0 made CreateDataset("/c")`
	if !strings.Contains(out, want) {
		t.Fatalf("job output does not name the divergence (%q):\n%s", want, out)
	}
}

// TestCollectiveReaders: four reader ranks follow a two-rank writer; after
// every tick all four hold the same tick and index, the delta path agrees
// with the full index, and every snapshot verifies.
func TestCollectiveReaders(t *testing.T) {
	path := filepath.Join(t.TempDir(), "follow.pw")
	type result struct {
		out string
		err error
	}
	readers := make(chan result, 1)
	go func() {
		out, err := runJob(t, 4, "creader", path)
		readers <- result{out, err}
	}()
	// Paced: with sync points at 2(N-1) messages the writer runs ahead of
	// four verifying reader ranks (under -race, beside other tests) by more
	// than max lag; this test is about the readers agreeing, not speed.
	out, err := runJob(t, 2, "pwriter", path, "PW_TEST_WORKLOAD=ckpt", "PW_TEST_STEPS=150", "PW_TEST_DELAY=5ms")
	if err != nil {
		t.Fatalf("writer: %v\n%s", err, out)
	}
	r := <-readers
	if r.err != nil {
		t.Fatalf("readers: %v\n%s", r.err, r.out)
	}
	if !strings.Contains(r.out, "steps=150 errors=0") {
		t.Fatalf("readers did not verify every step:\n%s", r.out)
	}
	t.Log(strings.TrimSpace(r.out))
}

// TestHeartbeatBetweenSyncPoints: a parallel writer whose ranks compute
// for much longer than a tick between metadata calls has no sync points
// then, so no ends of tick; rank 0's heartbeat must keep its ticks coming,
// or readers would take it for dead. The reader's WriterGone (1.5 s, 75
// ticks) is shorter than a pause (2 s) but long enough that a loaded
// machine delaying the writer does not make it look gone.
func TestHeartbeatBetweenSyncPoints(t *testing.T) {
	path := filepath.Join(t.TempDir(), "slow.pw")
	done := make(chan error, 1)
	go func() {
		out, err := runJob(t, 2, "pwriter", path, "PW_TEST_WORKLOAD=rr", "PW_TEST_STEPS=3", "PW_TEST_DELAY=2s")
		if err != nil {
			err = fmt.Errorf("%w\n%s", err, out)
		}
		done <- err
	}()
	sum, err := job.Watch(path, job.WatchOptions{
		Config:  coord.Config{WriterGone: 1500 * time.Millisecond},
		Timeout: 30 * time.Second, Poll: 5 * time.Millisecond,
	})
	if werr := <-done; werr != nil {
		t.Fatalf("writer: %v", werr)
	}
	if err != nil {
		t.Fatalf("reader following a computing writer: %v (%+v)", err, sum)
	}
	// Three 2 s pauses at 20 ms ticks: hundreds of heartbeat ticks.
	if sum.Ticks < 40 || sum.Steps != 3 {
		t.Fatalf("reader adopted %d ticks and %d steps; want at least 40 ticks (heartbeats) and 3 steps", sum.Ticks, sum.Steps)
	}
}
