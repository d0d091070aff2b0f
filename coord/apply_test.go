package coord_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"pwstore/coord"
	"pwstore/internal/infra/natsd"
)

// appendAllSpec is the extensible int32 dataset the Apply tests use:
// at most max rows.
func appendAllSpec(max uint64) coord.Spec {
	return coord.Spec{Type: coord.Int32, Shape: []uint64{0}, MaxShape: []uint64{max}, Chunk: []uint64{4}}
}

// int32s is vals little-endian.
func int32s(vals ...int32) []byte {
	var b []byte
	for _, v := range vals {
		b = binary.LittleEndian.AppendUint32(b, uint32(v))
	}
	return b
}

// app, ext and wr are Apply's three kinds of call.
func app(d *coord.Dataset, rows uint64, data []byte) coord.Op {
	return coord.Op{Kind: coord.OpAppend, Dataset: d, Rows: rows, Data: data}
}

func ext(d *coord.Dataset, n uint64) coord.Op {
	return coord.Op{Kind: coord.OpExtend, Dataset: d, Rows: n}
}

func wr(d *coord.Dataset, start, count uint64, data []byte) coord.Op {
	return coord.Op{Kind: coord.OpWrite, Dataset: d, Start: []uint64{start}, Count: []uint64{count}, Data: data}
}

// writerOfD creates a writer of path with cfg and its unlimited dataset
// "/d"; the writer closes with the test.
func writerOfD(t *testing.T, path string, cfg coord.Config) (*coord.Writer, *coord.Dataset) {
	t.Helper()
	w, err := coord.Create(path, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	d, err := w.CreateDataset("/d", appendAllSpec(coord.Unlimited))
	if err != nil {
		t.Fatal(err)
	}
	return w, d
}

// readAll reads the whole 1-D int32 dataset path of the closed file.
func readAll(t *testing.T, file, path string) []byte {
	t.Helper()
	r, err := coord.OpenReader(file, coord.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	v, err := r.Dataset(path)
	if err != nil {
		t.Fatal(err)
	}
	shape, err := v.Shape()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4*shape[0])
	if err := v.ReadSlab([]uint64{0}, shape, buf); err != nil {
		t.Fatal(err)
	}
	return buf
}

// Apply makes its calls as the Dataset methods would, in order, each
// append and extend counted as a call, writes not; it stops at the first
// that fails (keeping the ones before it) and refuses another writer's
// dataset, an unknown kind and a closed writer.
func TestApply(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.pw")
	w, err := coord.Create(path, coord.Config{TickLen: coord.DefaultTickLen})
	if err != nil {
		t.Fatal(err)
	}
	a, err := w.CreateDataset("/a", appendAllSpec(coord.Unlimited))
	if err != nil {
		t.Fatal(err)
	}
	b, err := w.CreateDataset("/b", appendAllSpec(5))
	if err != nil {
		t.Fatal(err)
	}
	calls := w.Calls()
	n, err := w.Apply(context.Background(), []coord.Op{
		app(a, 2, int32s(1, 2)), app(b, 1, int32s(10)), app(a, 1, nil), ext(b, 2), wr(b, 1, 1, int32s(11)),
		app(b, 2, int32s(12, 13)), ext(a, 4), wr(a, 3, 1, int32s(3)),
	})
	if n != 8 || err != nil {
		t.Fatalf("Apply: %d, %v; want 8, nil", n, err)
	}
	if got := w.Calls() - calls; got != 6 {
		t.Errorf("Apply of 4 appends, 2 extends and 2 writes counted %d calls", got)
	}
	// The third passes /b's max shape of 5 rows: the first two stay, the
	// fourth is not made.
	n, err = w.Apply(context.Background(), []coord.Op{
		app(a, 1, int32s(4)), app(b, 1, int32s(14)), ext(b, 6), app(a, 1, int32s(5)),
	})
	if n != 2 || !errors.Is(err, coord.ErrInvalid) {
		t.Fatalf("Apply past the max shape: %d, %v; want 2, ErrInvalid", n, err)
	}
	for _, bad := range [][]coord.Op{
		{app(a, 1, int32s(1, 2))}, // data of 2 rows for 1
		{ext(a, 1)},               // shrinks
		{wr(a, 5, 1, int32s(1))},  // outside the shape
		{wr(a, 0, 1, nil)},        // no data
		{{Kind: 9, Dataset: a}},
	} {
		if n, err := w.Apply(context.Background(), bad); n != 0 || !errors.Is(err, coord.ErrInvalid) {
			t.Errorf("Apply %+v: %d, %v; want 0, ErrInvalid", bad[0], n, err)
		}
	}
	other, err := coord.Create(filepath.Join(t.TempDir(), "o.pw"), coord.Config{ManualTicks: true})
	if err != nil {
		t.Fatal(err)
	}
	od, err := other.CreateDataset("/a", appendAllSpec(coord.Unlimited))
	if err != nil {
		t.Fatal(err)
	}
	n, err = w.Apply(context.Background(), []coord.Op{app(a, 1, int32s(6)), app(od, 1, int32s(6))})
	if n != 1 || !errors.Is(err, coord.ErrInvalid) || !strings.Contains(err.Error(), "not a dataset of this writer") {
		t.Errorf("Apply with another writer's dataset: %d, %v; want 1, ErrInvalid", n, err)
	}
	if err := other.Close(); err != nil {
		t.Fatal(err)
	}
	if n, err := w.Apply(context.Background(), nil); n != 0 || err != nil {
		t.Errorf("Apply of none: %d, %v", n, err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if n, err := w.Apply(context.Background(), []coord.Op{app(a, 1, nil)}); n != 0 || !errors.Is(err, coord.ErrClosed) {
		t.Errorf("Apply after Close: %d, %v; want 0, ErrClosed", n, err)
	}
	if got, want := readAll(t, path, "/a"), int32s(1, 2, 0, 3, 4, 6); !bytes.Equal(got, want) {
		t.Errorf("/a: %v, want %v", got, want)
	}
	if got, want := readAll(t, path, "/b"), int32s(10, 11, 12, 13, 14); !bytes.Equal(got, want) {
		t.Errorf("/b: %v, want %v", got, want)
	}
}

// Two ranks, on an embedded NATS server, make the same appends and
// extends, with writes of the rows each owns between them: rank 0 in
// batches of Apply, rank 1 by one Dataset call each. The sync points find
// both ranks' calls equal (a batch recorded as one call, or a call under
// another name, would fail them), and the file holds every rank's rows.
func TestApplyRanksMixed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.pw")
	srv, err := natsd.Start(natsd.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	comms := coord.OpenTestComms(t, "apply", 2, func(int) string { return srv.URL() }, 20*time.Second)
	const calls = 300 // past several sync points (the first after 16 calls)
	var want []int32
	for i := range calls {
		for r := range 1 + i%3 {
			want = append(want, int32(i*10+r))
		}
	}
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for rank, c := range comms {
		wg.Go(func() {
			errs[rank] = func() error {
				w, err := coord.Create(path, coord.Config{TickLen: 10 * time.Millisecond, Comm: c})
				if err != nil {
					return err
				}
				d, err := w.CreateDataset("/d", appendAllSpec(coord.Unlimited))
				if err != nil {
					return err
				}
				var batch []coord.Op
				rows := uint64(0)
				for i := range calls {
					n := uint64(1 + i%3)
					var data []byte
					mine := i%2 == rank
					if mine {
						for r := range n {
							data = append(data, int32s(int32(i*10)+int32(r))...)
						}
					}
					// Every third call extends, then the owner writes the rows.
					ops := []coord.Op{app(d, n, data)}
					if i%3 == 2 {
						ops = []coord.Op{ext(d, rows+n)}
						if mine {
							ops = append(ops, wr(d, rows, n, data))
						}
					}
					rows += n
					if rank == 1 {
						for _, o := range ops {
							switch o.Kind {
							case coord.OpAppend:
								err = d.Append(o.Rows, o.Data)
							case coord.OpExtend:
								err = d.Extend(o.Rows)
							case coord.OpWrite:
								err = d.WriteSlab(o.Start, o.Count, o.Data)
							}
							if err != nil {
								return err
							}
						}
						continue
					}
					if batch = append(batch, ops...); len(batch) >= 37 || i == calls-1 {
						if _, err := w.Apply(context.Background(), batch); err != nil {
							return err
						}
						batch = batch[:0]
					}
				}
				return w.Close()
			}()
		})
	}
	wg.Wait()
	for r, err := range errs {
		if err != nil {
			t.Fatalf("rank %d: %v", r, err)
		}
	}
	if got := readAll(t, path, "/d"); !bytes.Equal(got, int32s(want...)) {
		t.Errorf("/d holds %d bytes that differ from the %d appended", len(got), 4*len(want))
	}
}

// The ends of tick inside an Apply count the calls it made so far in
// PublishInfo.Calls, and Calls counts them all once it returns: with
// TickBytes 1 every append ends the tick.
func TestApplyCalls(t *testing.T) {
	var published []uint64 // PublishInfo.Calls of each end of tick
	w, d := writerOfD(t, filepath.Join(t.TempDir(), "c.pw"), coord.Config{ManualTicks: true, TickBytes: 1,
		OnPublish: func(pi coord.PublishInfo) { published = append(published, pi.Calls) }})
	base := w.Calls()
	published = published[:0]
	const n = 20
	batch := make([]coord.Op, n)
	for i := range batch {
		batch[i] = app(d, 1, int32s(int32(i)))
	}
	if done, err := w.Apply(context.Background(), batch); done != n || err != nil {
		t.Fatalf("Apply: %d, %v", done, err)
	}
	if got := w.Calls(); got != base+n {
		t.Errorf("Calls after Apply of %d: %d, want %d", n, got, base+n)
	}
	if len(published) != n {
		t.Fatalf("%d ends of tick in Apply of %d with TickBytes 1: %v", len(published), n, published)
	}
	for i, c := range published {
		if c != base+uint64(i)+1 {
			t.Errorf("end of tick %d of the batch: PublishInfo.Calls %d, want %d", i+1, c, base+uint64(i)+1)
		}
	}
}

// OnTimer runs on the timer goroutine before it ends an expired tick: a
// call it makes is published with no further call of the application, as
// libpwstore's queued calls must be.
func TestOnTimer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.pw")
	var held atomic.Pointer[coord.Dataset] // a held-back append to make
	errc := make(chan error, 1)
	_, d := writerOfD(t, path, coord.Config{TickLen: 20 * time.Millisecond, OnTimer: func() {
		if d := held.Swap(nil); d != nil {
			errc <- d.Append(1, int32s(42))
		}
	}})
	r, err := coord.OpenReader(path, coord.Config{OpenWait: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	held.Store(d)
	if err := <-errc; err != nil {
		t.Fatalf("the timer's append: %v", err)
	}
	// No more calls: the timer's own end of tick publishes the append.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, err := r.Tick(); err != nil {
			t.Fatal(err)
		}
		if v, err := r.Dataset("/d"); err == nil {
			if shape, err := v.Shape(); err == nil && shape[0] == 1 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the reader never saw the append the timer made")
		}
	}
}
