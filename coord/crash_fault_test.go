package coord

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"pwstore/internal/tool/workload"
	"pwstore/mdfile"
	"pwstore/vfs"
)

// Crash and fault tests of one end of tick. A file gets preTicks ticks of
// one step each; then one more step and a new dataset are made, and the
// end of tick that publishes them is cut at each of its writes and fsyncs
// in turn (a process crash, a power loss, an I/O error). Recovery must
// then land exactly on the previous tick (preTicks steps, no new dataset)
// or the new one (one more step, the new dataset), never in between, and
// the file must verify completely.

const (
	preTicks = 5
	newPath  = "/fault/new" // the dataset the cut end of tick creates
	// staticPath is created staticAt ticks into the run and never changed:
	// with max lag 3, its pages are due for write-back to the data file,
	// and for removal from the index, in the cut end of tick.
	staticPath = "/fault/static"
	staticAt   = 2
	newLen     = 8
)

// op is one mutating file operation seen by a traceFS.
type op struct {
	kind string // write, sync or truncate
	file string // base name
	off  int64
	n    int
}

func (o op) String() string {
	if o.kind == "write" {
		return fmt.Sprintf("write %s [%d,+%d)", o.file, o.off, o.n)
	}
	return o.kind + " " + o.file
}

// isHeader says whether o writes a metadata-file header slot.
func (o op) isHeader() bool {
	return o.kind == "write" && strings.HasSuffix(o.file, ".md") && o.n == mdfile.HeaderSize && (o.off == 0 || o.off == 512)
}

// traceFS records every mutating operation before passing it on.
type traceFS struct {
	vfs.FS
	mu  sync.Mutex // guards ops
	ops []op
}

func (f *traceFS) wrap(file vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return nil, err
	}
	return &traceFile{File: file, fs: f}, nil
}

func (f *traceFS) Create(name string) (vfs.File, error) { return f.wrap(f.FS.Create(name)) }
func (f *traceFS) OpenRW(name string) (vfs.File, error) { return f.wrap(f.FS.OpenRW(name)) }
func (f *traceFS) Open(name string) (vfs.File, error)   { return f.wrap(f.FS.Open(name)) }

func (f *traceFS) record(o op) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ops = append(f.ops, o)
}

// since returns the operations from index i on.
func (f *traceFS) since(i int) []op {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]op(nil), f.ops[i:]...)
}

func (f *traceFS) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.ops)
}

type traceFile struct {
	vfs.File
	fs *traceFS
}

func (t *traceFile) WriteAt(p []byte, off int64) (int, error) {
	t.fs.record(op{kind: "write", file: filepath.Base(t.Name()), off: off, n: len(p)})
	return t.File.WriteAt(p, off)
}

func (t *traceFile) Sync() error {
	t.fs.record(op{kind: "sync", file: filepath.Base(t.Name())})
	return t.File.Sync()
}

func (t *traceFile) Truncate(size int64) error {
	t.fs.record(op{kind: "truncate", file: filepath.Base(t.Name()), off: size})
	return t.File.Truncate(size)
}

// faultRun is a writer on a FaultFS, ready to end the cut tick.
type faultRun struct {
	path   string
	fault  *vfs.FaultFS
	trace  *traceFS
	w      *Writer
	ds     []*Dataset
	layout []workload.Dataset
	prev   uint64 // the last tick published before the cut one
}

// startFaultRun writes preTicks ticks, then makes the cut tick's changes
// without ending it.
func startFaultRun(t *testing.T, durable bool, seed uint64) *faultRun {
	t.Helper()
	path := filepath.Join(t.TempDir(), "cut.pw")
	fault := vfs.NewFaultFS(vfs.OS, seed)
	fault.TrackUnsynced(durable)
	tr := &traceFS{FS: fault}
	// MaxLag 3 and a small cache: the cut tick also removes entries from
	// the index, releases metadata-file space and writes pages back.
	w, err := Create(path, Config{ManualTicks: true, MaxLag: 3, CachePages: 16, Durable: durable, FS: tr})
	if err != nil {
		t.Fatal(err)
	}
	layout := workload.Params{Kind: workload.RR, Datasets: 6, Elems: 5}.Defaults().Layout(1)
	ds := make([]*Dataset, len(layout))
	for i, d := range layout {
		if ds[i], err = w.CreateDataset(d.Path, specOf(d)); err != nil {
			t.Fatal(err)
		}
	}
	for s := range uint64(preTicks) {
		for i, d := range layout {
			appendStep(t, ds[i], d, s)
		}
		if s == staticAt {
			createSmall(t, w, staticPath)
		}
		if err := w.EndTick(); err != nil {
			t.Fatal(err)
		}
	}
	run := &faultRun{path: path, fault: fault, trace: tr, w: w, ds: ds, layout: layout, prev: w.Stats().LastTick}
	for i, d := range layout {
		appendStep(t, ds[i], d, preTicks)
	}
	createSmall(t, w, newPath)
	return run
}

// createSmall creates a small dataset at path holding smallValues(path),
// in two chunks: it has a chunk index, whose root page is one more page
// for the delayed writes (a one-chunk dataset would have none).
func createSmall(t *testing.T, w *Writer, path string) {
	t.Helper()
	d, err := w.CreateDataset(path, Spec{Type: Int64, Shape: []uint64{newLen}, Chunk: []uint64{newLen / 2}})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.WriteSlab([]uint64{0}, []uint64{newLen}, smallValues(path)); err != nil {
		t.Fatal(err)
	}
}

// smallFile creates a closed file at path holding the dataset "/a" made
// by createSmall.
func smallFile(t *testing.T, path string) {
	t.Helper()
	if err := smallWriter(t, path).Close(); err != nil {
		t.Fatal(err)
	}
}

// smallWriter creates a file at path with manual ticks and the dataset
// "/a" made by createSmall, published; the caller closes the writer.
func smallWriter(t *testing.T, path string) *Writer {
	t.Helper()
	w, err := Create(path, Config{ManualTicks: true})
	if err != nil {
		t.Fatal(err)
	}
	createSmall(t, w, "/a")
	if err := w.EndTick(); err != nil {
		t.Fatal(err)
	}
	return w
}

func smallValues(path string) []byte {
	b := make([]byte, 8*newLen)
	for i := range newLen {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(7*i+len(path)))
	}
	return b
}

// checkSmall checks a dataset made by createSmall.
func checkSmall(r *Reader, path string) error {
	v, err := r.Dataset(path)
	if err != nil {
		return err
	}
	buf := make([]byte, 8*newLen)
	if err := v.ReadSlab([]uint64{0}, []uint64{newLen}, buf); err != nil {
		return err
	}
	if string(buf) != string(smallValues(path)) {
		return fmt.Errorf("%s holds other values than written", path)
	}
	return nil
}

// nextTick makes the next tick's changes (one more step everywhere)
// without ending it: what they write to the files must not disturb the
// published tick.
func (f *faultRun) nextTick(t *testing.T) {
	t.Helper()
	for i, d := range f.layout {
		appendStep(t, f.ds[i], d, preTicks+1)
	}
}

// endTick ends the cut tick and returns its error and the operations it made.
func (f *faultRun) endTick() ([]op, error) {
	before := f.trace.count()
	err := f.w.EndTick()
	return f.trace.since(before), err
}

// abandon lets go of the writer after the cut: whatever Close manages to
// do fails on the crashed file system or on the writer's sticky error.
func (f *faultRun) abandon() {
	f.w.Close()
}

// cutOps is the sequence of operations of the uncut end of tick, which
// every cut run repeats up to its cut.
func cutOps(t *testing.T, durable bool) []op {
	t.Helper()
	f := startFaultRun(t, durable, 1)
	ops, err := f.endTick()
	if err != nil {
		t.Fatal(err)
	}
	if err := f.w.Close(); err != nil {
		t.Fatal(err)
	}
	if headerAt(ops) < 0 {
		t.Fatalf("the end of tick wrote no metadata-file header: %v", ops)
	}
	if !slices.ContainsFunc(ops, isPageWriteBack) {
		t.Fatalf("the end of tick wrote no metadata page back to the data file: the cut misses that case: %v", ops)
	}
	return ops
}

// isPageWriteBack says whether o writes whole metadata pages (of the
// default page size) to the data file.
func isPageWriteBack(o op) bool {
	return o.kind == "write" && o.file == "cut.pw" && o.off%DefaultPageSize == 0 && o.n%DefaultPageSize == 0
}

// headerAt is the index of the first header write in ops, or -1.
func headerAt(ops []op) int {
	for i, o := range ops {
		if o.isHeader() {
			return i
		}
	}
	return -1
}

// syncAfter is the index of the first fsync after ops[i] of ops[i]'s
// file, or -1.
func syncAfter(ops []op, i int) int {
	for j := i + 1; j < len(ops); j++ {
		if ops[j].kind == "sync" && ops[j].file == ops[i].file {
			return j
		}
	}
	return -1
}

// landing is where a recovered file landed.
type landing int

const (
	onPrev landing = 1 << iota // the tick before the cut one
	onNew                      // the cut tick
)

func (l landing) String() string {
	switch l {
	case onPrev:
		return "previous tick"
	case onNew:
		return "new tick"
	}
	return "previous or new tick"
}

// recoverAndCheck recovers the file as the faults left it on disk and
// checks that it is exactly one of the allowed ticks and verifies.
func (f *faultRun) recoverAndCheck(t *testing.T, allowed landing, where string) landing {
	t.Helper()
	rec, err := Recover(f.path, Config{ForceRecover: true})
	if err != nil {
		t.Fatalf("%s: recover: %v", where, err)
	}
	var got landing
	switch rec.Tick {
	case f.prev:
		got = onPrev
	case f.prev + 1:
		got = onNew
	default:
		t.Fatalf("%s: recovered tick %d, want %d or %d", where, rec.Tick, f.prev, f.prev+1)
	}
	if got&allowed == 0 {
		t.Fatalf("%s: recovered the %v (tick %d), want the %v", where, got, rec.Tick, allowed)
	}
	if c := f.contents(t, where); c != got {
		t.Fatalf("%s: recovered tick %d, the %v, but the file holds the %v", where, rec.Tick, got, c)
	}
	return got
}

// contents checks that the closed or recovered file verifies and holds
// exactly the previous or the new tick, and says which.
func (f *faultRun) contents(t *testing.T, where string) landing {
	t.Helper()
	r, err := OpenReader(f.path, Config{ManualTicks: true})
	if err != nil {
		t.Fatalf("%s: open recovered file: %v", where, err)
	}
	defer r.Close()
	return f.snapshot(t, r, where)
}

// openFollower opens a reader of the file at the tick before the cut one.
func (f *faultRun) openFollower(t *testing.T) *Reader {
	t.Helper()
	r, err := OpenReader(f.path, Config{ManualTicks: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.snapshot(t, r, "reader before the cut"); got != onPrev {
		t.Fatalf("reader opened before the cut holds the %v", got)
	}
	return r
}

// follow makes r, opened before the cut, tick after it: before any
// recovery, it must adopt exactly an allowed tick and read it whole.
func (f *faultRun) follow(t *testing.T, r *Reader, allowed landing, where string) {
	t.Helper()
	where += ", reader following the writer"
	info, err := r.Tick()
	if err != nil {
		t.Fatalf("%s: tick: %v", where, err)
	}
	got := map[uint64]landing{f.prev: onPrev, f.prev + 1: onNew}[info.Tick]
	if got&allowed == 0 {
		t.Fatalf("%s: adopted tick %d (previous %d), want the %v", where, info.Tick, f.prev, allowed)
	}
	if c := f.snapshot(t, r, where); c != got {
		t.Fatalf("%s: adopted tick %d, the %v, but reads the %v", where, info.Tick, got, c)
	}
}

// afterRecovery makes r, which followed the writer until its crash, tick
// once the file is recovered: it must see the file ended, holding the
// recovered tick.
func (f *faultRun) afterRecovery(t *testing.T, r *Reader, recovered landing, where string) {
	t.Helper()
	defer r.Close()
	where += ", reader ticking after recovery"
	info, err := r.Tick()
	if err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	if !info.Ended {
		t.Fatalf("%s: %+v: the file is not seen as ended", where, info)
	}
	if got := f.snapshot(t, r, where); got != recovered {
		t.Fatalf("%s: reads the %v, recovery landed on the %v", where, got, recovered)
	}
}

// snapshot checks that r's snapshot verifies and holds exactly the
// previous or the new tick, and says which.
func (f *faultRun) snapshot(t *testing.T, r *Reader, where string) landing {
	t.Helper()
	if err := r.Check(); err != nil {
		t.Fatalf("%s: check: %v", where, err)
	}
	if err := checkSmall(r, staticPath); err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	got, steps := onNew, uint64(preTicks+1)
	if err := checkSmall(r, newPath); errors.Is(err, ErrNotFound) {
		got, steps = onPrev, preTicks
	} else if err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	checkExact(t, r, f.layout, steps, fmt.Sprintf("%s, file holding the %v", where, got))
	return got
}

// TestCrashEachWriteOfEndOfTick: a process crash after each write of the
// end of tick (the next write torn at a random byte, every later one
// lost), with and without durable mode.
func TestCrashEachWriteOfEndOfTick(t *testing.T) {
	for _, durable := range []bool{false, true} {
		t.Run(fmt.Sprintf("durable=%v", durable), func(t *testing.T) {
			ops := cutOps(t, durable)
			var writes []op
			for _, o := range ops {
				if o.kind == "write" {
					writes = append(writes, o)
				}
			}
			h := headerAt(writes)
			seen := map[landing]int{}
			for k := 0; k <= len(writes); k++ {
				f := startFaultRun(t, durable, uint64(k)+1)
				r := f.openFollower(t)
				f.fault.CrashAfter(f.fault.Writes()+k, -1)
				_, err := f.endTick()
				if k < len(writes) && !errors.Is(err, vfs.ErrCrashed) {
					t.Fatalf("crash after write %d of %d: end of tick returned %v, want the crash", k, len(writes), err)
				}
				if k == len(writes) {
					if err != nil {
						t.Fatal(err)
					}
					f.nextTick(t)
				}
				// The process dies here: nothing more reaches the files.
				f.fault.CrashAfter(f.fault.Writes(), 0)
				f.abandon()
				allowed := onPrev // the header of the cut tick is not written
				switch {
				case k == h:
					allowed = onPrev | onNew // the header write is torn: any prefix, maybe all of it
				case k > h:
					allowed = onNew
				}
				where := fmt.Sprintf("crash after write %d of %d", k, len(writes))
				if k < len(writes) {
					where += fmt.Sprintf(" (next: %v)", writes[k])
				}
				f.follow(t, r, allowed, where)
				got := f.recoverAndCheck(t, allowed, where)
				f.afterRecovery(t, r, got, where)
				seen[got]++
			}
			if seen[onPrev] == 0 || seen[onNew] == 0 {
				t.Fatalf("landings %v: the cuts did not cover both sides of the header write", seen)
			}
			t.Logf("%d writes in the end of tick (header at %d): %d recovered the previous tick, %d the new one",
				len(writes), h, seen[onPrev], seen[onNew])
		})
	}
}

// errPowerCut stands for the power failing during an operation.
var errPowerCut = errors.New("power cut")

// TestPowerLossEachStepOfDurableEndOfTick: in durable mode, power fails
// before each write and fsync of the end of tick in turn (and after the
// last); every write not yet fsynced survives or not at random, in random
// order, the last survivor torn.
func TestPowerLossEachStepOfDurableEndOfTick(t *testing.T) {
	ops := cutOps(t, true)
	h := headerAt(ops)
	hsync := syncAfter(ops, h) // the fsync that makes the header durable
	if hsync < 0 {
		t.Fatalf("durable end of tick never synced its header: %v", ops)
	}
	cutEachOp(t, ops, h, hsync, func(f *faultRun, k int) {
		_, err := f.endTick()
		if k < len(ops) && !errors.Is(err, errPowerCut) {
			t.Fatalf("power cut at op %d: end of tick returned %v", k, err)
		}
		if k == len(ops) {
			if err != nil {
				t.Fatal(err)
			}
			f.nextTick(t) // unsynced: the power loss scrambles it
		}
	}, func(f *faultRun, t *testing.T, allowed landing, where string) landing {
		f.abandon()
		return f.recoverAndCheck(t, allowed, where)
	})
}

// cutEachOp runs the operation whose writes and fsyncs are ops with the
// power failing before each of them in turn (and after the last), for
// three shares of the unsynced writes surviving, and recovers: the file
// must land on the previous tick while the header write (ops[h]) has not
// happened, on the new one once its fsync (ops[hs]) has, on either
// between, and both must occur. run does the operation and checks its
// error; recover recovers and returns where the file landed.
func cutEachOp(t *testing.T, ops []op, h, hs int, run func(f *faultRun, k int),
	recover func(f *faultRun, t *testing.T, allowed landing, where string) landing) {
	t.Helper()
	for _, keep := range []float64{0, 0.5, 1} {
		seen := map[landing]int{}
		for k := 0; k <= len(ops); k++ {
			f := startFaultRun(t, true, uint64(k)*7+uint64(keep*10)+1)
			if k < len(ops) {
				f.fault.FailAt(k+1, errPowerCut) // op k never happens
			}
			run(f, k)
			if err := f.fault.PowerLoss(keep); err != nil {
				t.Fatal(err)
			}
			allowed := onPrev | onNew // the header is written, not yet durable
			switch {
			case k <= h:
				allowed = onPrev
			case k > hs:
				allowed = onNew
			}
			where := fmt.Sprintf("power lost (keep %.1f) after op %d of %d", keep, k, len(ops))
			if k < len(ops) {
				where += fmt.Sprintf(" (before %v)", ops[k])
			}
			seen[recover(f, t, allowed, where)]++
		}
		if seen[onPrev] == 0 || seen[onNew] == 0 {
			t.Fatalf("keep %.1f: landings %v: the cuts did not cover both sides", keep, seen)
		}
		t.Logf("keep %.1f: %d operations (header write %d, its fsync %d): %d recovered the previous tick, %d the new one",
			keep, len(ops), h, hs, seen[onPrev], seen[onNew])
	}
}

// TestIOErrorDuringEndOfTick: EIO or ENOSPC from each operation of the end
// of tick in turn is a clear error from EndTick that names the file, the
// writer stays failed, and recovery lands on the previous tick - or the
// new one when only what followed its header write failed.
func TestIOErrorDuringEndOfTick(t *testing.T) {
	for _, durable := range []bool{false, true} {
		t.Run(fmt.Sprintf("durable=%v", durable), func(t *testing.T) {
			ops := cutOps(t, durable)
			h := headerAt(ops)
			for k := range ops {
				errno := []syscall.Errno{syscall.EIO, syscall.ENOSPC}[k%2]
				where := fmt.Sprintf("%v at op %d of %d (%v)", errno, k, len(ops), ops[k])
				f := startFaultRun(t, durable, uint64(k)+1)
				f.fault.FailAt(k+1, errno)
				_, err := f.endTick()
				if !errors.Is(err, errno) {
					t.Fatalf("%s: end of tick returned %v", where, err)
				}
				if !strings.Contains(err.Error(), f.path) {
					t.Errorf("%s: the error does not name the file: %v", where, err)
				}
				if err := f.w.EndTick(); err == nil {
					t.Fatalf("%s: the writer ended another tick after the failure", where)
				}
				if err := f.w.Close(); err == nil {
					t.Fatalf("%s: the writer closed cleanly after the failure", where)
				}
				allowed := onPrev
				if k > h {
					allowed = onNew // the header reached the file before the failing op
				}
				f.recoverAndCheck(t, allowed, where)
			}
		})
	}
}

// TestCrashDuringRecovery: recovery itself is cut - a process crash after
// each of its writes, or power lost before each of its operations - and
// run again: the second run must complete and land on the same tick.
func TestCrashDuringRecovery(t *testing.T) {
	for _, power := range []bool{false, true} {
		t.Run(fmt.Sprintf("power=%v", power), func(t *testing.T) {
			for k := 0; ; k++ {
				if k > 1000 {
					t.Fatal("recovery still cut after 1000 operations")
				}
				f := startFaultRun(t, false, 1)
				if _, err := f.endTick(); err != nil {
					t.Fatal(err)
				}
				f.nextTick(t)
				f.fault.CrashAfter(f.fault.Writes(), 0)
				f.abandon()

				cut := vfs.NewFaultFS(vfs.OS, uint64(k)+1)
				if power {
					cut.TrackUnsynced(true)
					cut.FailAt(k+1, errPowerCut)
				} else {
					cut.CrashAfter(k, -1)
				}
				_, err := Recover(f.path, Config{FS: cut, ForceRecover: true})
				done := err == nil
				if !done && !errors.Is(err, vfs.ErrCrashed) && !errors.Is(err, errPowerCut) {
					t.Fatalf("cut %d: recovery failed with %v", k, err)
				}
				if power {
					if err := cut.PowerLoss(0.5); err != nil {
						t.Fatal(err)
					}
				}
				where := fmt.Sprintf("recovery cut after %d operations (completed: %v)", k, done)
				rec, err := Recover(f.path, Config{ForceRecover: true})
				if err != nil {
					t.Fatalf("%s: second recovery: %v", where, err)
				}
				if done && rec.Needed {
					t.Fatalf("%s: a completed recovery left work for the next: %+v", where, rec)
				}
				if got := f.contents(t, where); got != onNew {
					t.Fatalf("%s: the file holds the %v", where, got)
				}
				if done {
					t.Logf("recovery completes in %d operations", k)
					return
				}
			}
		})
	}
}
