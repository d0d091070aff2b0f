// Package golden keeps the golden files of the on-disk formats: bytes a
// test's encoder must produce exactly, and the values its decoder must
// read from them, in testdata/golden/ of the package under test. Running
// the tests with -update rewrites the files from the code (after a
// deliberate format change); without it, any difference fails the test, so
// an encoder and a decoder that drift together are caught.
package golden

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden from the code")

// Dir is where the golden files live, relative to the package under test.
const Dir = "testdata/golden"

// Updating reports whether the golden files are being rewritten.
func Updating() bool { return *update }

// Bytes checks that got equals the golden file name, or writes it there
// with -update. It returns the golden bytes.
func Bytes(t testing.TB, name string, got []byte) []byte {
	t.Helper()
	path := filepath.Join(Dir, name)
	if *update {
		if err := os.MkdirAll(Dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return got
	}
	want := Read(t, name)
	if !bytes.Equal(got, want) {
		at := 0
		for at < min(len(got), len(want)) && got[at] == want[at] {
			at++
		}
		t.Errorf("%s: the code produces %d bytes that differ from the golden file's %d at byte %d; if the format changed on purpose, run the tests with -update and review the diff",
			path, len(got), len(want), at)
	}
	return want
}

// Read returns the golden file name.
func Read(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(Dir, name))
	if err != nil {
		t.Fatalf("golden file: %v (run the tests with -update to write it)", err)
	}
	return b
}

// JSON checks that v, as indented JSON, equals the golden file name (or
// writes it with -update): the values a decoder read from golden bytes.
func JSON(t testing.TB, name string, v any) {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	Bytes(t, name, append(b, '\n'))
}
