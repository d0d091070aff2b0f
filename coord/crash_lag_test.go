package coord

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pwstore/internal/tool/workload"
)

// TestLaggingReaderFails holds a reader (one-page cache, so every read
// loads pages) at one tick while the writer ends tick after tick, until the
// space of the held tick's page images is reused. Up to
// max_lag - 1 ticks behind it reads exactly its tick's data (as in
// TestMessageFromTheFuture); from max_lag ticks behind on, every read
// either fails with ErrLagging or returns its tick's data - never other
// data - and at least the first read fails. A Tick then catches it up.
func TestLaggingReaderFails(t *testing.T) {
	const maxLag = 4
	path := filepath.Join(t.TempDir(), "lag.pw")
	w, layout, steps, step := lagWriter(t, path, maxLag)
	defer w.Close()
	for range 3 {
		step()
	}
	r := onePageReader(t, path)
	held := *steps
	checkExact(t, r, layout, held, "reader in step")
	for lag := uint64(1); lag <= 4*maxLag; lag++ {
		step()
		got, err := r.Lag()
		if err != nil || got != lag {
			t.Fatalf("reader lag %d (%v), want %d", got, err, lag)
		}
		where := fmt.Sprintf("reader %d ticks behind, max lag %d", lag, maxLag)
		if lag <= maxLag-1 {
			checkExact(t, r, layout, held, where)
			continue
		}
		failed, err := readOrLag(r, layout, held)
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		if failed == 0 {
			t.Fatalf("%s: every read succeeded", where)
		}
		t.Logf("%s: %d reads failed with ErrLagging, the rest returned the held tick's data", where, failed)
	}
	if _, err := r.Tick(); err != nil {
		t.Fatal(err)
	}
	checkExact(t, r, layout, *steps, "reader caught up")
}

// readOrLag reads every step of every dataset at a reader held at steps
// steps: each read must fail with a clear ErrLagging or return exactly the
// held tick's data. It returns how many reads failed.
func readOrLag(r *Reader, layout []workload.Dataset, steps uint64) (int, error) {
	failed := 0
	lagged := func(err error) error {
		if !errors.Is(err, ErrLagging) {
			return fmt.Errorf("read failed with %v, want ErrLagging", err)
		}
		if !strings.Contains(err.Error(), "behind") {
			return fmt.Errorf("unclear lag error: %v", err)
		}
		failed++
		return nil
	}
	for _, d := range layout {
		v, err := r.Dataset(d.Path)
		if err != nil {
			if err := lagged(err); err != nil {
				return failed, err
			}
			continue
		}
		switch shape, err := v.Shape(); {
		case err != nil:
			if err := lagged(err); err != nil {
				return failed, err
			}
		case shape[0] != steps*d.Rows:
			return failed, fmt.Errorf("%s has %d rows, the held tick %d", d.Path, shape[0], steps*d.Rows)
		}
		switch val, ok, err := v.Attr("steps"); {
		case err != nil:
			if err := lagged(err); err != nil {
				return failed, err
			}
		default:
			if n, _ := val.Int(); !ok || uint64(n) != steps {
				return failed, fmt.Errorf("%s steps attribute %d (%v), the held tick has %d", d.Path, n, ok, steps)
			}
		}
		for s := range steps {
			sl, _ := d.RankSlab(s, 0, 1)
			buf := make([]byte, sl.Elems()*uint64(d.DType.Size()))
			if err := v.ReadSlab(sl.Start, sl.Count, buf); err != nil {
				if err := lagged(err); err != nil {
					return failed, err
				}
				continue
			}
			if err := d.CheckSlab(buf, s, sl); err != nil {
				return failed, fmt.Errorf("wrong data: %w", err)
			}
		}
	}
	return failed, nil
}

// TestAutomaticReaderTicksWhenBehind: a reader with automatic ticks whose
// own tick is far from due (a minute) ticks at its next call once a page
// load found the writer half of max_lag ahead - rather than read on until
// it lags - and then reads the newest snapshot.
func TestAutomaticReaderTicksWhenBehind(t *testing.T) {
	const maxLag = 4
	path := filepath.Join(t.TempDir(), "behind.pw")
	w, layout, _, step := lagWriter(t, path, maxLag)
	defer w.Close()
	step()
	r, err := OpenReader(path, Config{TickLen: time.Minute, CachePages: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// Views of two datasets read in turn: with a one-page cache, every
	// call loads a page.
	views := make([]*View, 2)
	for i := range views {
		if views[i], err = r.Dataset(layout[i].Path); err != nil {
			t.Fatal(err)
		}
	}
	calls := 0
	shape := func() uint64 {
		t.Helper()
		s, err := views[calls%2].Shape()
		if err != nil {
			t.Fatal(err)
		}
		calls++
		return s[0]
	}
	rows := shape()
	step() // one tick behind: reads go on in the held snapshot
	if got := shape(); got != rows {
		t.Fatalf("one tick behind, the reader moved from %d rows to %d", rows, got)
	}
	step() // half of max_lag behind: the next page load notices
	if got := shape(); got != rows {
		t.Fatalf("a read moved the reader from %d rows to %d before a page load found it behind", rows, got)
	}
	if lag, err := r.Lag(); err != nil || lag != maxLag/2 {
		t.Fatalf("lag %d (%v), want %d", lag, err, maxLag/2)
	}
	if got, want := shape(), 3*layout[0].Rows; got != want {
		t.Fatalf("after a page load found the reader half of max_lag behind, it reads %d rows, want %d (the newest tick)", got, want)
	}
	if lag, err := r.Lag(); err != nil || lag != 0 {
		t.Fatalf("lag %d (%v) after the automatic tick, want 0", lag, err)
	}
}

// lagWriter creates a manual-tick writer of four small round-robin
// datasets at path; step appends one step to each and ends the tick, and
// *steps counts the steps so far.
func lagWriter(t *testing.T, path string, maxLag uint64) (w *Writer, layout []workload.Dataset, steps *uint64, step func()) {
	t.Helper()
	return lagWriterConfig(t, path, Config{ManualTicks: true, MaxLag: maxLag, CachePages: 4})
}

// lagWriterConfig is lagWriter with the writer's whole configuration.
func lagWriterConfig(t *testing.T, path string, cfg Config) (w *Writer, layout []workload.Dataset, steps *uint64, step func()) {
	t.Helper()
	w, err := Create(path, cfg)
	if err != nil {
		t.Fatal(err)
	}
	layout = workload.Params{Kind: workload.RR, Datasets: 4, Elems: 3}.Defaults().Layout(1)
	ds := make([]*Dataset, len(layout))
	for i, d := range layout {
		if ds[i], err = w.CreateDataset(d.Path, specOf(d)); err != nil {
			w.Close()
			t.Fatal(err)
		}
	}
	steps = new(uint64)
	step = func() {
		t.Helper()
		for i, d := range layout {
			appendStep(t, ds[i], d, *steps)
		}
		*steps++
		if err := w.EndTick(); err != nil {
			t.Fatal(err)
		}
	}
	return w, layout, steps, step
}

// TestLagWindowKeepsReader: a writer with a lag window in time ends ticks
// fast (manual ticks, as steps at a short MinTickInterval would): a reader
// held on one tick (one-page cache: every read loads pages, from the
// metadata file and the data file) reads exactly its tick's data while it
// is many times max_lag ticks behind but within the window - the writer
// kept the superseded metadata-file space, the delayed data-file writes
// and the freed data-file space for it.
func TestLagWindowKeepsReader(t *testing.T) {
	const maxLag = 4
	path := filepath.Join(t.TempDir(), "window.pw")
	w, layout, steps, step := lagWriterConfig(t, path, Config{ManualTicks: true, MaxLag: maxLag, CachePages: 4, LagWindow: time.Hour})
	defer w.Close()
	for range 3 {
		step()
	}
	// The held reader reads the pages from the data file, where the
	// writer must not put their later images while the reader may be on
	// this tick.
	r := heldReader(t, w, path, maxLag)
	held := *steps
	for lag := uint64(1); lag <= 8*maxLag; lag++ {
		step()
		if got, err := r.Lag(); err != nil || got != lag {
			t.Fatalf("reader lag %d (%v), want %d", got, err, lag)
		}
		checkExact(t, r, layout, held, fmt.Sprintf("reader %d ticks behind, max lag %d, within the lag window", lag, maxLag))
	}
	if _, err := r.Tick(); err != nil {
		t.Fatal(err)
	}
	checkExact(t, r, layout, *steps, "reader caught up")
}

// TestLagWindowPassed: once a held reader's tick was superseded longer ago
// than the lag window and max_lag ticks have passed, the next header drops
// it: every read fails with ErrLagging or returns the held tick's data,
// and at least one fails.
func TestLagWindowPassed(t *testing.T) {
	const maxLag = 4
	const window = 1500 * time.Millisecond
	path := filepath.Join(t.TempDir(), "window.pw")
	w, layout, steps, step := lagWriterConfig(t, path, Config{ManualTicks: true, MaxLag: maxLag, CachePages: 4, LagWindow: window})
	defer w.Close()
	for range 3 {
		step()
	}
	r := onePageReader(t, path)
	held := *steps
	step()
	superseded := time.Now() // the held tick was superseded before this
	for range 2*maxLag - 1 {
		step()
	}
	if time.Since(superseded) < window/2 { // within the window, 2 max_lag behind: exact
		checkExact(t, r, layout, held, "reader 8 ticks behind, max lag 4, within the lag window")
	}
	time.Sleep(window - time.Since(superseded) + 10*time.Millisecond)
	step()
	failed, err := readOrLag(r, layout, held)
	if err != nil {
		t.Fatalf("reader past the lag window: %v", err)
	}
	if failed == 0 {
		t.Fatal("reader past the lag window and max_lag ticks: every read succeeded")
	}
	if _, err := r.Tick(); err != nil {
		t.Fatal(err)
	}
	checkExact(t, r, layout, *steps, "reader caught up")
}

// TestLagWindowDefersReuse: space freed within the lag window does not
// reach a reader that may be on a tick that still uses it, though max_lag
// ticks have passed. A dataset's header moves (its attribute outgrows its
// page), then the writer creates datasets whose pages take the free ones.
// A reader held on a tick from before the move, which has not looked at
// the dataset yet, then reads the catalog and the old header from the data
// file: it must find them intact. Two rules guard it, and for one rank
// either suffices: pfile reuses no space freed after the oldest tick a
// reader may be on, and the page buffer writes nothing changed after it
// (SetOldest). The test fails when the page buffer's is dropped (the
// catalog then points past the held tick's end of allocation); pfile's
// alone is a second guard this test cannot tell apart from the buffer's.
func TestLagWindowDefersReuse(t *testing.T) {
	const maxLag = 3
	path := filepath.Join(t.TempDir(), "reuse.pw")
	w, err := Create(path, Config{ManualTicks: true, MaxLag: maxLag, CachePages: 4, LagWindow: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	spec := Spec{Type: Int64, Shape: []uint64{4}, Chunk: []uint64{4}}
	a, err := w.CreateDataset("/a", spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.SetAttr("note", StringValue("held")); err != nil {
		t.Fatal(err)
	}
	r := heldReader(t, w, path, maxLag)
	if err := a.SetAttr("note", StringValue(strings.Repeat("x", 3*DefaultPageSize))); err != nil {
		t.Fatal(err)
	}
	for i := range 4 * maxLag {
		if _, err := w.CreateDataset(fmt.Sprintf("/new%d", i), spec); err != nil {
			t.Fatal(err)
		}
		if err := w.EndTick(); err != nil {
			t.Fatal(err)
		}
	}
	if lag, err := r.Lag(); err != nil || lag != 4*maxLag {
		t.Fatalf("reader lag %d (%v), want %d", lag, err, 4*maxLag)
	}
	v, err := r.Dataset("/a")
	if err != nil {
		t.Fatalf("reader %d ticks behind, max lag %d, within the lag window: %v", 4*maxLag, maxLag, err)
	}
	got, ok, err := v.Attr("note")
	if err != nil || !ok || string(got.Data) != "held" {
		t.Fatalf("note = %.20q, %v, %v; want the held tick's %q", got.Data, ok, err, "held")
	}
}

// heldReader ends maxLag+2 ticks without changes, so that the pages of
// what w wrote before leave the index, then opens a reader with a
// one-page cache, which reads them from the data file; it closes with
// the test.
func heldReader(t *testing.T, w *Writer, path string, maxLag int) *Reader {
	t.Helper()
	for range maxLag + 2 {
		if err := w.EndTick(); err != nil {
			t.Fatal(err)
		}
	}
	return onePageReader(t, path)
}

// onePageReader opens path with manual ticks and a one-page cache, so that
// every read loads pages; it closes with the test.
func onePageReader(t *testing.T, path string) *Reader {
	t.Helper()
	r, err := OpenReader(path, Config{ManualTicks: true, CachePages: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}
