package stats

import (
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	xs := []float64{5, 1, 4, 2, 3, 10, 9, 8, 7, 6}
	for _, c := range []struct{ p, want float64 }{{50, 5}, {99, 10}, {100, 10}, {0, 1}, {10, 1}, {90, 9}} {
		if got := Percentile(xs, c.p); got != c.want {
			t.Errorf("Percentile(%v) = %v, want %v", c.p, got, c.want)
		}
	}
	if Percentile(nil, 50) != 0 {
		t.Error("percentile of nothing is not 0")
	}
	if xs[0] != 5 {
		t.Error("Percentile sorted its argument")
	}
	if got := Millis([]time.Duration{1500 * time.Microsecond}); got[0] != 1.5 {
		t.Errorf("Millis = %v", got)
	}
}
