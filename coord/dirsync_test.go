package coord

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"pwstore/vfs"
)

// TestDurableCreateSurvivesPowerLoss: a durable writer syncs the directory
// after creating its files, so a power loss after a durable end of tick
// keeps both files, and recovery finds the tick. The same run on a file
// system that skips directory syncs (a writer without them) loses the
// data file's directory entry: the test shows what the sync prevents.
func TestDurableCreateSurvivesPowerLoss(t *testing.T) {
	for _, skip := range []bool{true, false} {
		path := filepath.Join(t.TempDir(), "durable.pw")
		fault := vfs.NewFaultFS(vfs.OS, 7)
		fault.TrackUnsynced(true)
		fault.SkipDirSyncs(skip)
		w, err := Create(path, Config{ManualTicks: true, Durable: true, FS: fault})
		if err != nil {
			t.Fatal(err)
		}
		createSmall(t, w, "/kept")
		if err := w.EndTick(); err != nil {
			t.Fatal(err)
		}
		if err := fault.PowerLoss(0.5); err != nil {
			t.Fatal(err)
		}
		w.Close() // fails: the power is gone
		_, dataErr := os.Stat(path)
		_, mdErr := os.Stat(path + ".md")
		if skip {
			if !errors.Is(dataErr, fs.ErrNotExist) || !errors.Is(mdErr, fs.ErrNotExist) {
				t.Fatalf("without directory syncs the new files survived power loss (data %v, md %v): the test shows nothing", dataErr, mdErr)
			}
			continue
		}
		if dataErr != nil || mdErr != nil {
			t.Fatalf("durable writer lost its files at power loss: data %v, md %v", dataErr, mdErr)
		}
		if rec, err := Recover(path, Config{ForceRecover: true}); err != nil || !rec.Needed {
			t.Fatalf("recover after power loss: %+v, %v", rec, err)
		}
		r, err := OpenReader(path, Config{ManualTicks: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := checkSmall(r, "/kept"); err != nil {
			t.Fatalf("the durable tick is lost: %v", err)
		}
		r.Close()
	}
}

// TestDurableCloseRemovalIsDurable: the metadata file a durable writer
// removes at Close stays removed after a power loss.
func TestDurableCloseRemovalIsDurable(t *testing.T) {
	for _, skip := range []bool{true, false} {
		path := filepath.Join(t.TempDir(), "closed.pw")
		fault := vfs.NewFaultFS(vfs.OS, 8)
		fault.TrackUnsynced(true)
		w, err := Create(path, Config{ManualTicks: true, Durable: true, FS: fault})
		if err != nil {
			t.Fatal(err)
		}
		createSmall(t, w, "/kept")
		fault.SkipDirSyncs(skip)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := fault.PowerLoss(1); err != nil {
			t.Fatal(err)
		}
		_, mdErr := os.Stat(path + ".md")
		if back := mdErr == nil; back != skip {
			t.Fatalf("skip directory syncs %v: metadata file back after power loss: %v", skip, back)
		}
	}
}
