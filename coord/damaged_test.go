package coord

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"pwstore/collective"
)

// TestWriterFilesCutShort: a data or metadata file cut short under its
// writer fails the next end of tick (and Close) with corruption, and the
// writer publishes nothing more.
func TestWriterFilesCutShort(t *testing.T) {
	for _, victim := range []string{"data", "metadata"} {
		t.Run(victim, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "cut.pw")
			w := smallWriter(t, path)
			cut := path
			if victim == "metadata" {
				cut = path + ".md"
			}
			fi, err := os.Stat(cut)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(cut, fi.Size()/2); err != nil {
				t.Fatal(err)
			}
			createSmall(t, w, "/b")
			if err := w.EndTick(); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("end of tick after the %s file was cut: %v, want corruption", victim, err)
			}
			if err := w.Close(); err == nil {
				t.Fatal("close succeeded")
			}
		})
	}
}

// TestReopenCutFile: opening a cut data file for writing is refused as
// corrupt before anything is created or written.
func TestReopenCutFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cut.pw")
	smallFile(t, path)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, fi.Size()-1); err != nil {
		t.Fatal(err)
	}
	before := readFile(t, path)
	if _, err := Open(path, Config{ManualTicks: true}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("open of a cut file for writing: %v, want corruption", err)
	}
	if _, err := OpenReader(path, Config{ManualTicks: true}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("reader of a cut file: %v, want corruption", err)
	}
	if _, err := os.Stat(path + ".md"); !os.IsNotExist(err) {
		t.Fatalf("a refused open left a metadata file: %v", err)
	}
	if string(readFile(t, path)) != string(before) {
		t.Fatal("a refused open changed the data file")
	}
}

// TestCutHiddenByWriteToEnd: a write that ends exactly at the data file's
// size at the last end of tick would bring a file cut under the writer
// back to that size, hiding the cut from the end of tick's check (the
// bytes between the cut and the write would read as zeros): it checks the
// size first and fails with corruption. In a parallel writer the write may
// come from any rank, and only rank 0 checks the size at the end of tick.
func TestCutHiddenByWriteToEnd(t *testing.T) {
	for _, np := range []int{1, 2} {
		t.Run(fmt.Sprintf("np=%d", np), func(t *testing.T) { cutHiddenByWriteToEnd(t, np) })
	}
}

// cutHiddenByWriteToEnd runs the test with np ranks; the last rank writes.
func cutHiddenByWriteToEnd(t *testing.T, np int) {
	path := filepath.Join(t.TempDir(), "end.pw")
	comms := []collective.Comm{nil}
	if np > 1 {
		comms = collective.NewLocalWith(np, collective.LocalOptions{Timeout: 20 * time.Second})
	}
	const n = 1024 // 8 KiB: a chunk of its own pages
	pattern := bytes.Repeat([]byte{0x5a, 0xc3, 0x96, 0x0f, 0x11, 0x22, 0x33, 0x44}, n)
	written, cut := make(chan error, np), make(chan struct{})
	writeErr, tickErr := make([]error, np), make([]error, np)
	var wg sync.WaitGroup
	var release sync.Once // lets the ranks go on, also when the test fails first
	defer func() { release.Do(func() { close(cut) }); wg.Wait() }()
	for rank, c := range comms {
		wg.Go(func() {
			writes := rank == np-1
			err := func() error {
				w, err := Create(path, Config{ManualTicks: true, Comm: c})
				if err != nil {
					return err
				}
				defer w.Close()
				d, err := w.CreateDataset("/last", Spec{Type: Int64, Shape: []uint64{n}, Chunk: []uint64{n}})
				if err != nil {
					return err
				}
				if err := w.EndTick(); err != nil {
					return err
				}
				if writes {
					if err := d.WriteSlab([]uint64{0}, []uint64{n}, pattern); err != nil {
						return err
					}
				}
				if err := w.EndTick(); err != nil {
					return err
				}
				written <- nil
				<-cut
				if writes {
					writeErr[rank] = d.WriteSlab([]uint64{0}, []uint64{n}, make([]byte, len(pattern)))
				}
				tickErr[rank] = w.EndTick()
				return nil
			}()
			if err != nil {
				written <- fmt.Errorf("rank %d: %w", rank, err)
			}
		})
	}
	for range np {
		if err := <-written; err != nil {
			t.Fatal(err)
		}
	}
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	at := bytes.Index(file, pattern)
	if at < 0 || at+len(pattern) != len(file) {
		t.Fatalf("the chunk is at %d of a %d-byte file: this test needs it at the end", at, len(file))
	}
	if err := os.Truncate(path, int64(at)); err != nil {
		t.Fatal(err)
	}
	release.Do(func() { close(cut) })
	wg.Wait()
	if err := writeErr[np-1]; !errors.Is(err, ErrCorrupt) {
		t.Errorf("rank %d: a write ending at the end of the cut file: %v, want corruption", np-1, err)
	}
	for rank, err := range tickErr {
		if err == nil {
			t.Errorf("rank %d: end of tick after the cut succeeded", rank)
		}
	}
	if !errors.Is(tickErr[0], ErrCorrupt) {
		t.Errorf("rank 0: end of tick after the cut: %v, want corruption", tickErr[0])
	}
}
