package coord

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestRecoveredWriterStops: recovery runs while the writer is stopped
// (here: between two of its calls); the writer's next end of tick, and
// before it any data write after a silence longer than half its
// heartbeat threshold, fails with ErrFenced, and the recovered data file
// is not changed by a byte.
func TestRecoveredWriterStops(t *testing.T) {
	for _, how := range []string{"end of tick", "data write"} {
		t.Run(how, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "fenced.pw")
			w, err := Create(path, Config{ManualTicks: true, WriterGone: 40 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			createSmall(t, w, "/a")
			if err := w.EndTick(); err != nil {
				t.Fatal(err)
			}
			d, err := w.CreateDataset("/big", Spec{Type: Int64, Shape: []uint64{1024}, Chunk: []uint64{1024}})
			if err != nil {
				t.Fatal(err)
			}
			if rec, err := Recover(path, Config{ForceRecover: true}); err != nil || !rec.Needed {
				t.Fatalf("recover: %+v, %v", rec, err)
			}
			before, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			switch how {
			case "end of tick":
				err = w.EndTick()
			default:
				time.Sleep(50 * time.Millisecond) // longer than WriterGone / 2
				// A whole chunk goes straight to the file.
				err = d.WriteSlab([]uint64{0}, []uint64{1024}, make([]byte, 8*1024))
			}
			if !errors.Is(err, ErrFenced) {
				t.Fatalf("%s after recovery: %v, want ErrFenced", how, err)
			}
			if err := w.Close(); err == nil {
				t.Fatal("close of a fenced writer succeeded")
			}
			after, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(before, after) {
				t.Fatal("the fenced writer changed the recovered data file")
			}
			if _, err := os.Stat(path + ".md"); !os.IsNotExist(err) {
				t.Fatalf("a metadata file came back: %v", err)
			}
		})
	}
}
