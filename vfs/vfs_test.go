package vfs

import (
	"bytes"
	"path/filepath"
	"testing"
)

// TestWriteAtInPieces: a write larger than MaxWrite, at an offset no
// piece boundary is aligned to, lands whole and in place.
func TestWriteAtInPieces(t *testing.T) {
	name := filepath.Join(t.TempDir(), "f")
	f, err := OS.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := make([]byte, 3*MaxWrite+123)
	for i := range want {
		want[i] = byte(i*7 + i>>9)
	}
	if n, err := f.WriteAt(want, 77); err != nil || n != len(want) {
		t.Fatalf("WriteAt = %d, %v; want %d", n, err, len(want))
	}
	got := readAll(t, name)
	if len(got) != 77+len(want) || !bytes.Equal(got[77:], want) || !bytes.Equal(got[:77], make([]byte, 77)) {
		t.Fatalf("the write did not land whole and in place (%d bytes)", len(got))
	}
}
