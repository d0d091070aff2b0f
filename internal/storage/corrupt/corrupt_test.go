package corrupt

import (
	"errors"
	"testing"
)

func TestErrorfMarks(t *testing.T) {
	sentinel := errors.New("bad magic")
	err := Errorf("header at %d: %w", 7, sentinel)
	if !errors.Is(err, Err) {
		t.Fatalf("%v does not carry the corruption marker", err)
	}
	if !errors.Is(err, sentinel) {
		t.Fatalf("%v lost its own sentinel", err)
	}
	plain := Errorf("index length %d beyond file", 9)
	if !errors.Is(plain, Err) || errors.Is(plain, sentinel) {
		t.Fatalf("plain corruption error wrapped wrongly: %v", plain)
	}
	if got, want := plain.Error(), "index length 9 beyond file: corrupt data"; got != want {
		t.Fatalf("message %q, want %q", got, want)
	}
}
