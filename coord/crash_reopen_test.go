package coord

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"pwstore/internal/tool/workload"
	"pwstore/pfile"
	"pwstore/vfs"
)

// TestCrashAfterReopen: a closed file (with a persisted free list) is
// opened for writing again, the writer allocates from that free space for
// a few ticks and its process crashes; the recovered file must verify -
// no free-list entry over live data - and take another writing session.
func TestCrashAfterReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "again.pw")
	layout := writeWithFreeList(t, path, 12)
	steps := uint64(12)

	// A session on the fault file system that ends in a process crash.
	fault := vfs.NewFaultFS(vfs.OS, 1)
	w, err := Open(path, Config{ManualTicks: true, MaxLag: 3, FS: fault})
	if err != nil {
		t.Fatal(err)
	}
	appendTicks(t, w, layout, &steps, 5)
	published := steps
	appendSteps(t, w, layout, steps) // the open tick's changes, never published
	fault.CrashAfter(fault.Writes(), 0)
	w.Close() // fails: the process is dead

	rec, err := Recover(path, Config{ForceRecover: true})
	if err != nil || !rec.Needed {
		t.Fatalf("recover: %+v, %v", rec, err)
	}
	checkFile(t, path, layout, published, "recovered")

	// Another session on the recovered file, closed cleanly.
	w, err = Open(path, Config{ManualTicks: true, MaxLag: 3})
	if err != nil {
		t.Fatalf("open the recovered file: %v", err)
	}
	steps = published
	appendTicks(t, w, layout, &steps, 5)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	checkFile(t, path, layout, steps, "written again after recovery")
}

// writeWithFreeList makes a closed file with steps steps of a workload,
// one per tick, whose close persisted a free list: an attribute that
// grows every tick moves its dataset's header, freeing the old space.
func writeWithFreeList(t *testing.T, path string, steps int) []workload.Dataset {
	t.Helper()
	w, err := Create(path, Config{ManualTicks: true, MaxLag: 3})
	if err != nil {
		t.Fatal(err)
	}
	layout := workload.Params{Kind: workload.RR, Datasets: 6, Elems: 5}.Defaults().Layout(1)
	for _, d := range layout {
		if _, err := w.CreateDataset(d.Path, specOf(d)); err != nil {
			t.Fatal(err)
		}
	}
	churn, err := w.CreateDataset("/churn", Spec{Type: Int64, Shape: []uint64{1}, Chunk: []uint64{1}})
	if err != nil {
		t.Fatal(err)
	}
	n := uint64(0)
	for i := range steps {
		if err := churn.SetAttr("note", StringValue(strings.Repeat("x", 600*(i+1)))); err != nil {
			t.Fatal(err)
		}
		appendTicks(t, w, layout, &n, 1)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if sb := superblockOf(t, path); sb.FreeList == 0 {
		t.Fatalf("the closed file persisted no free list (%+v): the test needs one", sb)
	}
	return layout
}

func superblockOf(t *testing.T, path string) pfile.Superblock {
	t.Helper()
	f, err := vfs.OS.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sb, err := pfile.ReadSuperblock(f)
	if err != nil {
		t.Fatal(err)
	}
	return sb
}

// appendSteps appends step s to every dataset of layout.
func appendSteps(t *testing.T, w *Writer, layout []workload.Dataset, s uint64) {
	t.Helper()
	for _, d := range layout {
		ds, err := w.Dataset(d.Path)
		if err != nil {
			t.Fatal(err)
		}
		appendStep(t, ds, d, s)
	}
}

// appendTicks appends n steps, one per tick.
func appendTicks(t *testing.T, w *Writer, layout []workload.Dataset, steps *uint64, n int) {
	t.Helper()
	for range n {
		appendSteps(t, w, layout, *steps)
		*steps++
		if err := w.EndTick(); err != nil {
			t.Fatal(err)
		}
	}
}

// checkFile checks a closed or recovered file: every structure and
// checksum, and exactly steps steps of the workload.
func checkFile(t *testing.T, path string, layout []workload.Dataset, steps uint64, where string) {
	t.Helper()
	r, err := OpenReader(path, Config{ManualTicks: true})
	if err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	defer r.Close()
	if err := r.Check(); err != nil {
		t.Fatalf("%s: check: %v", where, err)
	}
	checkExact(t, r, layout, steps, where)
}

// TestCrashWhileReopening: the process dies at each write of Open's first
// end of tick on a closed file. The data file is untouched until that
// tick is published, so whatever recovery says, it must leave the file
// whole - every step of the closed file verifies - and writable again.
func TestCrashWhileReopening(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reopen.pw")
	layout := writeWithFreeList(t, path, 12)
	for k := 0; ; k++ {
		if k > 100 {
			t.Fatal("Open still crashing after 100 writes")
		}
		fault := vfs.NewFaultFS(vfs.OS, uint64(k))
		fault.CrashAfter(k, -1)
		w, err := Open(path, Config{ManualTicks: true, MaxLag: 3, FS: fault})
		opened := err == nil
		if opened {
			fault.CrashAfter(fault.Writes(), 0) // the process dies right after Open
			w.Close()
		}
		where := fmt.Sprintf("crash after write %d of Open (opened: %v)", k, opened)
		if _, err := Recover(path, Config{ForceRecover: true}); err != nil {
			t.Fatalf("%s: recover: %v", where, err)
		}
		checkFile(t, path, layout, 12, where)
		w, err = Open(path, Config{ManualTicks: true})
		if err != nil {
			t.Fatalf("%s: open after recovery: %v", where, err)
		}
		if err := w.Close(); err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		if opened {
			t.Logf("Open publishes its first tick in %d writes", k)
			return
		}
	}
}
