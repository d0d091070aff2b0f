package coord

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
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
