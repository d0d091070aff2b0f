package workload

import "testing"

func TestDims(t *testing.T) {
	want := map[string]string{
		"/fields/f00":    "step,z,y,x",
		"/series/energy": "sample",
		"/steps/time":    "step",
		"/planes/p00":    "step,y,x",
		"/rr/d00000":     "sample",
	}
	for _, p := range []Params{{Kind: Ckpt, Datasets: 1, Elems: 4, Side: 6}, {Kind: Planes, Datasets: 1, Side: 6}, {Kind: RR, Datasets: 1, Elems: 3}} {
		for _, d := range p.Layout(1) {
			if w, ok := want[d.Path]; ok && d.Dims() != w {
				t.Errorf("%s: dims %q, want %q", d.Path, d.Dims(), w)
			}
		}
	}
}
