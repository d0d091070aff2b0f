package main

import (
	"slices"
	"testing"
)

// TestMedianRun: a repeated row keeps its median run (the lower middle of
// an even count) with every run's figure in run order, and a failed run
// wins so that the failure shows.
func TestMedianRun(t *testing.T) {
	ours := []ourRun{{Name: "a", Appends: 3}, {Name: "b", Appends: 1}, {Name: "c", Appends: 2}}
	m := medianOurs(ours)
	if m.Name != "c" || !slices.Equal(m.AppendsRuns, []float64{3, 1, 2}) {
		t.Fatalf("median of 3, 1, 2: %+v", m)
	}
	peers := []peerRun{{Name: "a", AppendsAll: 4}, {Name: "b", AppendsAll: 1}, {Name: "c", AppendsAll: 3}, {Name: "d", AppendsAll: 2}}
	if p := medianPeer(peers); p.Name != "d" || len(p.AppendsRuns) != 4 {
		t.Fatalf("median of 4, 1, 3, 2: %+v", p)
	}
	if m := medianOurs(ours[:1]); m.Name != "a" || m.AppendsRuns != nil {
		t.Fatalf("one run: %+v", m)
	}
	ours[2].Error = "writer failed"
	if m := medianOurs(ours); m.Error == "" {
		t.Fatalf("a failed run must show: %+v", m)
	}
}
