package workload

import (
	"strings"
	"testing"
)

// stepImage assembles one whole step of d from the slabs of ranks ranks.
func stepImage(t *testing.T, d Dataset, s uint64, ranks int) []byte {
	t.Helper()
	size := uint64(d.DType.Size())
	img := make([]byte, d.StepElems()*size)
	covered := make([]bool, d.StepElems())
	for r := range ranks {
		sl, ok := d.RankSlab(s, r, ranks)
		if !ok {
			continue
		}
		buf := make([]byte, sl.Elems()*size)
		d.FillSlab(buf, s, sl)
		i := uint64(0)
		d.eachRun(sl, func(e0 uint64, n int) {
			for k := range uint64(n) {
				if covered[e0+k] {
					t.Fatalf("%s: element %d written by two ranks", d.Path, e0+k)
				}
				covered[e0+k] = true
			}
			copy(img[e0*size:], buf[i*size:(i+uint64(n))*size])
			i += uint64(n)
		})
	}
	for e, ok := range covered {
		if !ok {
			t.Fatalf("%s: element %d written by no rank", d.Path, e)
		}
	}
	return img
}

func TestSplitsAgree(t *testing.T) {
	for _, kind := range []Kind{Ckpt, RR, Planes} {
		p := Params{Kind: kind, Side: 7, Datasets: 5, Elems: 3}.Defaults()
		if err := p.Validate(); err != nil {
			t.Fatal(err)
		}
		one := p.Layout(1)
		for _, ranks := range []int{2, 3, 4, 8} {
			many := p.Layout(ranks)
			if len(many) != len(one) {
				t.Fatalf("%s: %d datasets with %d ranks, %d with 1", kind, len(many), ranks, len(one))
			}
			for i, d := range many {
				for _, s := range []uint64{0, 5} {
					a, b := stepImage(t, one[i], s, 1), stepImage(t, d, s, ranks)
					if string(a) != string(b) {
						t.Fatalf("%s %s step %d: %d ranks write other values than 1", kind, d.Path, s, ranks)
					}
				}
			}
		}
	}
}

func TestCheckSlabFindsDamage(t *testing.T) {
	d := Params{Kind: Ckpt, Side: 4}.Defaults().Layout(2)[0]
	sl, _ := d.RankSlab(3, 1, 2)
	buf := make([]byte, sl.Elems()*uint64(d.DType.Size()))
	d.FillSlab(buf, 3, sl)
	if err := d.CheckSlab(buf, 3, sl); err != nil {
		t.Fatalf("intact slab rejected: %v", err)
	}
	if err := d.CheckSlab(buf, 4, sl); err == nil {
		t.Fatal("slab of step 3 accepted as step 4")
	}
	buf[len(buf)/2] ^= 1
	err := d.CheckSlab(buf, 3, sl)
	if err == nil || !strings.Contains(err.Error(), "step 3 element") {
		t.Fatalf("flipped byte not reported: %v", err)
	}
}

func TestValidate(t *testing.T) {
	if err := (Params{Kind: "bogus"}).Defaults().Validate(); err == nil {
		t.Fatal("unknown workload accepted")
	}
	if err := (Params{Kind: RR, Steps: -1}).Defaults().Validate(); err == nil {
		t.Fatal("negative steps accepted")
	}
}

func TestSpotSlab(t *testing.T) {
	for _, p := range []Params{{Kind: Ckpt, Side: 5}, {Kind: RR, Elems: 7}, {Kind: Planes, Side: 100}} {
		for _, d := range p.Defaults().Layout(1) {
			sl := d.SpotSlab(3, 4)
			whole, _ := d.RankSlab(3, 0, 1)
			if sl.Start[0] != whole.Start[0] || sl.Elems() != min(4, whole.Count[len(whole.Count)-1]) {
				t.Fatalf("%s: spot slab %+v of step slab %+v", d.Path, sl, whole)
			}
			buf := make([]byte, sl.Elems()*uint64(d.DType.Size()))
			d.FillSlab(buf, 3, sl)
			if err := d.CheckSlab(buf, 3, sl); err != nil {
				t.Fatalf("%s: %v", d.Path, err)
			}
			buf[0] ^= 1
			if d.CheckSlab(buf, 3, sl) == nil {
				t.Fatalf("%s: a damaged spot slab passed", d.Path)
			}
		}
	}
}

// TestEachRunMerges: the dimensions a slab spans whole join the run, so a
// rank's share of a step is one run; a slab narrower than its rows is one
// run per row, in order.
func TestEachRunMerges(t *testing.T) {
	runs := func(d Dataset, sl Slab) [][2]uint64 {
		var rs [][2]uint64
		d.eachRun(sl, func(e0 uint64, n int) { rs = append(rs, [2]uint64{e0, uint64(n)}) })
		return rs
	}
	planes := Params{Kind: Planes, Side: 5, Datasets: 1}.Defaults().Layout(1)[0]
	sl, _ := planes.RankSlab(3, 0, 1)
	if rs := runs(planes, sl); len(rs) != 1 || rs[0] != [2]uint64{0, 25} {
		t.Fatalf("whole plane: runs %v, want [[0 25]]", rs)
	}
	ckpt := Params{Kind: Ckpt, Side: 4}.Defaults().Layout(2)[0]
	sl, _ = ckpt.RankSlab(2, 1, 2) // planes 2 and 3 of the first spatial axis
	if rs := runs(ckpt, sl); len(rs) != 1 || rs[0] != [2]uint64{32, 32} {
		t.Fatalf("rank 1 of 2: runs %v, want [[32 32]]", rs)
	}
	sl = Slab{Start: []uint64{2, 1, 1, 2}, Count: []uint64{1, 2, 2, 2}} // step 2, 2x2 rows of 2
	want := [][2]uint64{{22, 2}, {26, 2}, {38, 2}, {42, 2}}
	if rs := runs(ckpt, sl); len(rs) != len(want) || rs[0] != want[0] || rs[1] != want[1] || rs[2] != want[2] || rs[3] != want[3] {
		t.Fatalf("partial rows: runs %v, want %v", rs, want)
	}
	sl = Slab{Start: []uint64{2, 1, 2, 0}, Count: []uint64{1, 2, 2, 4}} // whole rows, not whole planes
	want = [][2]uint64{{24, 8}, {40, 8}}
	if rs := runs(ckpt, sl); len(rs) != len(want) || rs[0] != want[0] || rs[1] != want[1] {
		t.Fatalf("whole rows: runs %v, want %v", rs, want)
	}
}
