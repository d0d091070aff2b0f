package coord

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"pwstore/collective"
	"pwstore/pfile"
)

// coord's own types carry the values the file format stores.
func TestTypesMatchFormat(t *testing.T) {
	if Unlimited != pfile.Unlimited || MaxBytesLen != pfile.MaxBytesLen {
		t.Fatalf("Unlimited %d, MaxBytesLen %d differ from pfile's", Unlimited, MaxBytesLen)
	}
	pairs := map[Type]pfile.Type{
		Int8: pfile.Int8, Int16: pfile.Int16, Int32: pfile.Int32, Int64: pfile.Int64,
		Uint8: pfile.Uint8, Uint16: pfile.Uint16, Uint32: pfile.Uint32, Uint64: pfile.Uint64,
		Float32: pfile.Float32, Float64: pfile.Float64, String: pfile.String,
		Bytes(1): pfile.Bytes(1), Bytes(16): pfile.Bytes(16), Bytes(MaxBytesLen): pfile.Bytes(MaxBytesLen),
	}
	for c, p := range pairs {
		if c.pfile() != p || coordType(p) != c || c.Size() != p.Size() || c.String() != p.String() {
			t.Errorf("%v: pfile %v, back %v, size %d/%d", c, c.pfile(), coordType(p), c.Size(), p.Size())
		}
	}
	if Bytes(16).Len() != 16 || Int32.Len() != 0 {
		t.Errorf("Len: Bytes(16) %d, Int32 %d", Bytes(16).Len(), Int32.Len())
	}
	for _, n := range []int{0, -1, MaxBytesLen + 1, 1 << 40} {
		if Bytes(n).Size() != 0 {
			t.Errorf("Bytes(%d) is a usable type %v", n, Bytes(n))
		}
	}
	if v, ok := IntValue(-3).Int(); !ok || v != -3 {
		t.Errorf("IntValue(-3).Int() = %d, %v", v, ok)
	}
	if v, ok := FloatValue(2.5).Float(); !ok || v != 2.5 {
		t.Errorf("FloatValue(2.5).Float() = %v, %v", v, ok)
	}
	if v, ok := UintValue(7).Uint(); !ok || v != 7 {
		t.Errorf("UintValue(7).Uint() = %d, %v", v, ok)
	}
	if v, ok := StringValue("x").Str(); !ok || v != "x" {
		t.Errorf("StringValue(x).Str() = %q, %v", v, ok)
	}
}

// Errors of the layers under coord wrap coord's sentinels: an existing
// dataset is ErrExists like an existing file, a bad spec ErrInvalid.
func TestErrorsWrapCoordSentinels(t *testing.T) {
	path := filepath.Join(t.TempDir(), "e.pw")
	w, err := Create(path, Config{ManualTicks: true})
	if err != nil {
		t.Fatal(err)
	}
	spec := Spec{Type: Int32, Shape: []uint64{4}}
	if _, err := w.CreateDataset("/d", spec); err != nil {
		t.Fatal(err)
	}
	if _, err := w.CreateDataset("/d", spec); !errors.Is(err, ErrExists) {
		t.Errorf("second CreateDataset: %v, want ErrExists", err)
	}
	if _, err := w.CreateDataset("/bad", Spec{Type: Bytes(0), Shape: []uint64{4}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("CreateDataset with an invalid type: %v, want ErrInvalid", err)
	}
	if _, err := w.Dataset("/none"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Dataset(/none): %v, want ErrNotFound", err)
	}
	if _, err := Create(path, Config{ManualTicks: true}); !errors.Is(err, ErrExists) {
		t.Errorf("Create over an open file: %v, want ErrExists", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := Create(path, Config{ManualTicks: true}); !errors.Is(err, ErrExists) {
		t.Errorf("Create over a closed file: %v, want ErrExists", err)
	}
	if err := w.EndTick(); !errors.Is(err, ErrClosed) {
		t.Errorf("EndTick after Close: %v, want ErrClosed", err)
	}
}

// An error rank 0 decides travels with its sentinels: errors.Is holds on
// every rank, and the text names rank 0.
func TestRemoteErrorKeepsSentinels(t *testing.T) {
	for _, s := range wireSentinels {
		err := remoteError("rank 0: x", errCode(errors.Join(errors.New("context"), s)))
		if !errors.Is(err, s) {
			t.Errorf("%v lost on the way: %v", s, err)
		}
	}
	if code := errCode(errors.New("plain")); code != 0 {
		t.Errorf("plain error has code %b", code)
	}
	err := remoteError("t", errCode(public(pfile.ErrExists)))
	if !errors.Is(err, ErrExists) || errors.Is(err, ErrNotFound) {
		t.Errorf("pfile.ErrExists became %v", err)
	}
}

// Create on an existing file fails with ErrExists on every rank of a job.
func TestCreateExistsEveryRank(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.pw")
	w, err := Create(path, Config{ManualTicks: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	comms := collective.NewLocalWith(2, collective.LocalOptions{Timeout: 20 * time.Second})
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for r, c := range comms {
		wg.Go(func() {
			_, errs[r] = Create(path, Config{ManualTicks: true, Comm: c})
		})
	}
	wg.Wait()
	for r, err := range errs {
		if !errors.Is(err, ErrExists) {
			t.Errorf("rank %d: %v, want ErrExists", r, err)
		}
	}
}

// Two Closes at once: one closes, the other waits for it and returns the
// same result; neither panics (run with -race).
func TestConcurrentClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.pw")
	w, err := Create(path, Config{TickLen: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.CreateDataset("/d", Spec{Type: Int8, Shape: []uint64{8}}); err != nil {
		t.Fatal(err)
	}
	errs := make([]error, 4)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() { errs[i] = w.Close() })
	}
	wg.Go(func() { w.Stats() })
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Close %d: %v", i, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Errorf("Close after Close: %v", err)
	}
	if _, err := w.CreateDataset("/e", Spec{Type: Int8, Shape: []uint64{8}}); !errors.Is(err, ErrClosed) {
		t.Errorf("call after Close: %v, want ErrClosed", err)
	}
	r, err := OpenReader(path, Config{})
	if err != nil {
		t.Fatalf("the closed file does not open: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("second reader Close: %v", err)
	}
}

// Stats answers while the writer waits in a collective for a rank that has
// not come yet: rank 1 enters EndTick only after rank 0's Stats returned,
// so a Stats that waited for the writer's lock would hang until the
// communicator's timeout failed the EndTick.
func TestStatsDuringCollective(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.pw")
	comms := collective.NewLocalWith(2, collective.LocalOptions{Timeout: 20 * time.Second})
	ws := make([]*Writer, 2)
	var wg sync.WaitGroup
	entered := make(chan struct{}, 1)
	comms[0] = &signalComm{Comm: comms[0], entered: entered}
	for r, c := range comms {
		wg.Go(func() {
			var err error
			if ws[r], err = Create(path, Config{ManualTicks: true, Comm: c}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for len(entered) > 0 { // Create's collectives
		<-entered
	}
	ended := make(chan error, 1)
	go func() { ended <- ws[0].EndTick() }()
	<-entered // rank 0 is in the sync point, holding the writer's lock
	before := ws[0].Stats()
	select {
	case err := <-ended:
		t.Fatalf("EndTick returned before rank 1 joined: %v", err)
	default:
	}
	if err := ws[1].EndTick(); err != nil {
		t.Fatal(err)
	}
	if err := <-ended; err != nil {
		t.Fatal(err)
	}
	if after := ws[0].Stats(); after.Ticks != before.Ticks+1 {
		t.Errorf("ticks %d then %d, want one more", before.Ticks, after.Ticks)
	}
	ctx := context.Background()
	for r := range ws {
		wg.Go(func() {
			if err := ws[r].CloseContext(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}

// signalComm tells when its rank enters a Decide (a sync point's first
// collective).
type signalComm struct {
	collective.Comm
	entered chan struct{}
}

// Decide is the collective a sync point enters.
func (c *signalComm) Decide(ctx context.Context, op collective.Op, v []int64, decide func([]int64) []byte) ([]byte, error) {
	select {
	case c.entered <- struct{}{}:
	default:
	}
	return c.Comm.Decide(ctx, op, v, decide)
}

// A context ends a wait for another rank: rank 0's EndTickContext returns
// the context's error once cancelled, and the ranks fail together (rank 0
// aborts the communicator) instead of waiting for its timeout.
func TestEndTickContextCancel(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ctx.pw")
	comms := collective.NewLocalWith(2, collective.LocalOptions{Timeout: 20 * time.Second})
	entered := make(chan struct{}, 1)
	comms[0] = &signalComm{Comm: comms[0], entered: entered}
	ws := make([]*Writer, 2)
	var wg sync.WaitGroup
	for r, c := range comms {
		wg.Go(func() {
			var err error
			if ws[r], err = CreateContext(context.Background(), path, Config{ManualTicks: true, Comm: c}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for len(entered) > 0 {
		<-entered
	}
	ctx, cancel := context.WithCancel(context.Background())
	ended := make(chan error, 1)
	go func() { ended <- ws[0].EndTickContext(ctx) }()
	<-entered
	cancel()
	if err := <-ended; !errors.Is(err, context.Canceled) {
		t.Fatalf("EndTickContext after cancel: %v, want context.Canceled", err)
	}
	if err := ws[1].EndTick(); err == nil {
		t.Error("rank 1 ended a tick rank 0 abandoned")
	}
	for _, w := range ws {
		if err := w.Close(); err == nil {
			t.Error("a failed writer closed cleanly")
		}
	}
}

// OpenReader of a damaged file fails with ErrCorrupt on every reader rank,
// though only rank 0 reads the file before the others hear its verdict.
func TestOpenReaderCorruptEveryRank(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.pw")
	w, err := Create(path, Config{ManualTicks: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{0xde, 0xad}, 40); err != nil { // inside the superblock
		t.Fatal(err)
	}
	f.Close()
	comms := collective.NewLocalWith(2, collective.LocalOptions{Timeout: 20 * time.Second})
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for r, c := range comms {
		wg.Go(func() {
			_, errs[r] = OpenReader(path, Config{Comm: c})
		})
	}
	wg.Wait()
	for r, err := range errs {
		if !errors.Is(err, ErrCorrupt) || !IsCorrupt(err) {
			t.Errorf("rank %d: %v, want ErrCorrupt", r, err)
		}
	}
	if !strings.Contains(errs[1].Error(), "rank 0") {
		t.Errorf("rank 1's error does not say rank 0 decided it: %v", errs[1])
	}
}
