package coord_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"pwstore/collective"
	"pwstore/coord"
)

// appendAllSpec is the extensible int32 dataset the AppendAll tests use:
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

// AppendAll makes its appends as Append would, in order, each counted as a
// call; it stops at the first that fails (keeping the ones before it) and
// refuses another writer's dataset and a closed writer.
func TestAppendAll(t *testing.T) {
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
	n, err := w.AppendAll(context.Background(), []coord.Append{
		{a, 2, int32s(1, 2)}, {b, 1, int32s(10)}, {a, 1, nil}, {b, 3, int32s(11, 12, 13)}, {a, 1, int32s(3)},
	})
	if n != 5 || err != nil {
		t.Fatalf("AppendAll: %d, %v; want 5, nil", n, err)
	}
	if got := w.Calls() - calls; got != 5 {
		t.Errorf("AppendAll of 5 counted %d calls", got)
	}
	// The third passes /b's max shape of 5 rows: the first two stay, the
	// fourth is not made.
	n, err = w.AppendAll(context.Background(), []coord.Append{
		{a, 1, int32s(4)}, {b, 1, int32s(14)}, {b, 1, int32s(15)}, {a, 1, int32s(5)},
	})
	if n != 2 || !errors.Is(err, coord.ErrInvalid) {
		t.Fatalf("AppendAll past the max shape: %d, %v; want 2, ErrInvalid", n, err)
	}
	n, err = w.AppendAll(context.Background(), []coord.Append{{a, 1, int32s(1, 2)}})
	if n != 0 || !errors.Is(err, coord.ErrInvalid) {
		t.Errorf("AppendAll with data of 2 rows for 1: %d, %v; want 0, ErrInvalid", n, err)
	}
	other, err := coord.Create(filepath.Join(t.TempDir(), "o.pw"), coord.Config{ManualTicks: true})
	if err != nil {
		t.Fatal(err)
	}
	od, err := other.CreateDataset("/a", appendAllSpec(coord.Unlimited))
	if err != nil {
		t.Fatal(err)
	}
	n, err = w.AppendAll(context.Background(), []coord.Append{{a, 1, int32s(6)}, {od, 1, int32s(6)}})
	if n != 1 || !errors.Is(err, coord.ErrInvalid) || !strings.Contains(err.Error(), "not a dataset of this writer") {
		t.Errorf("AppendAll with another writer's dataset: %d, %v; want 1, ErrInvalid", n, err)
	}
	if err := other.Close(); err != nil {
		t.Fatal(err)
	}
	if n, err := w.AppendAll(context.Background(), nil); n != 0 || err != nil {
		t.Errorf("AppendAll of none: %d, %v", n, err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if n, err := w.AppendAll(context.Background(), []coord.Append{{a, 1, nil}}); n != 0 || !errors.Is(err, coord.ErrClosed) {
		t.Errorf("AppendAll after Close: %d, %v; want 0, ErrClosed", n, err)
	}
	if got, want := readAll(t, path, "/a"), int32s(1, 2, 0, 3, 4, 6); !bytes.Equal(got, want) {
		t.Errorf("/a: %v, want %v", got, want)
	}
	if got, want := readAll(t, path, "/b"), int32s(10, 11, 12, 13, 14); !bytes.Equal(got, want) {
		t.Errorf("/b: %v, want %v", got, want)
	}
}

// Two ranks make the same appends, rank 0 in batches of AppendAll, rank 1
// by one Append each, each writing the appends it owns: the sync points
// find both ranks' calls equal (a batch recorded as one call, or under
// another name, would fail them), and the file holds every rank's rows.
func TestAppendAllRanksMixed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.pw")
	comms := collective.NewLocalWith(2, collective.LocalOptions{Timeout: 20 * time.Second})
	defer func() {
		for _, c := range comms {
			c.Close()
		}
	}()
	const appends = 300 // past several sync points (the first after 16 calls)
	var want []int32
	for i := range appends {
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
				var batch []coord.Append
				for i := range appends {
					var data []byte
					if i%2 == rank {
						for r := range 1 + i%3 {
							data = append(data, int32s(int32(i*10+r))...)
						}
					}
					if rank == 1 {
						if err := d.Append(uint64(1+i%3), data); err != nil {
							return err
						}
						continue
					}
					if batch = append(batch, coord.Append{Dataset: d, Rows: uint64(1 + i%3), Data: data}); len(batch) == 37 || i == appends-1 {
						if _, err := w.AppendAll(context.Background(), batch); err != nil {
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

// The ends of tick inside an AppendAll count the appends it made so far in
// PublishInfo.Calls, and Calls counts them all once it returns: with
// TickBytes 1 every append ends the tick.
func TestAppendAllCalls(t *testing.T) {
	var published []uint64 // PublishInfo.Calls of each end of tick
	w, err := coord.Create(filepath.Join(t.TempDir(), "c.pw"), coord.Config{ManualTicks: true, TickBytes: 1,
		OnPublish: func(pi coord.PublishInfo) { published = append(published, pi.Calls) }})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	d, err := w.CreateDataset("/d", appendAllSpec(coord.Unlimited))
	if err != nil {
		t.Fatal(err)
	}
	base := w.Calls()
	published = published[:0]
	const n = 20
	batch := make([]coord.Append, n)
	for i := range batch {
		batch[i] = coord.Append{Dataset: d, Rows: 1, Data: int32s(int32(i))}
	}
	if done, err := w.AppendAll(context.Background(), batch); done != n || err != nil {
		t.Fatalf("AppendAll: %d, %v", done, err)
	}
	if got := w.Calls(); got != base+n {
		t.Errorf("Calls after AppendAll of %d: %d, want %d", n, got, base+n)
	}
	if len(published) != n {
		t.Fatalf("%d ends of tick in AppendAll of %d with TickBytes 1: %v", len(published), n, published)
	}
	for i, c := range published {
		if c != base+uint64(i)+1 {
			t.Errorf("end of tick %d of the batch: PublishInfo.Calls %d, want %d", i+1, c, base+uint64(i)+1)
		}
	}
}
