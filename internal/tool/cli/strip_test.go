package cli

import (
	"slices"
	"testing"
)

func TestStrip(t *testing.T) {
	args := []string{"--np", "4", "-watch=2", "--steps", "10", "f.pw", "-np=3", "--json", "--", "--np", "1"}
	got := Strip(args, "np", "watch")
	want := []string{"--steps", "10", "f.pw", "--json", "--", "--np", "1"}
	if !slices.Equal(got, want) {
		t.Fatalf("Strip = %q, want %q", got, want)
	}
}
