package mdfile

import (
	"math/rand/v2"
	"testing"
)

func TestSpaceFirstFitCoalesceShrink(t *testing.T) {
	s := newSpace(4)
	s.take(0, 4)
	a, _ := s.alloc(3, unbounded) // 4..6
	b, _ := s.alloc(2, unbounded) // 7..8
	c, _ := s.alloc(1, unbounded) // 9
	if a != 4 || b != 7 || c != 9 || s.end() != 10 {
		t.Fatalf("allocations %d %d %d end %d", a, b, c, s.end())
	}
	if err := s.free(a, 3); err != nil {
		t.Fatal(err)
	}
	if err := s.free(b, 2); err != nil {
		t.Fatal(err)
	}
	// 4..8 coalesced: a 5-page request fits there, first fit.
	if p, _ := s.alloc(5, unbounded); p != 4 {
		t.Fatalf("5 pages at %d, want the coalesced hole at 4", p)
	}
	if err := s.free(4, 5); err != nil {
		t.Fatal(err)
	}
	if err := s.free(c, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.free(0, 4); err != nil {
		t.Fatal(err)
	}
	if s.end() != 4 {
		t.Fatalf("end %d after freeing everything, want the floor 4", s.end())
	}
	if err := s.free(c, 1); err == nil {
		t.Fatalf("double free accepted")
	}
	r := newSpace(0)
	r.take(0, 1)
	if _, ok := r.alloc(5, 4); ok {
		t.Fatalf("5 pages below page 4 with page 0 taken")
	}
	if p, ok := r.alloc(3, 4); !ok || p != 1 {
		t.Fatalf("3 pages below 4: %d %v", p, ok)
	}
	if r.end() != 4 {
		t.Fatalf("end %d, want 4", r.end())
	}
}

// TestSpaceAgainstModel runs random allocate/free sequences against a
// page-by-page model: allocations never overlap, are the first fit, and
// end is one past the highest used page.
func TestSpaceAgainstModel(t *testing.T) {
	for seed := range uint64(40) {
		rng := rand.New(rand.NewPCG(seed, 7))
		floor := uint64(rng.IntN(70))
		s := newSpace(floor)
		used := map[uint64]bool{}
		var live []extent
		for step := range 600 {
			if len(live) > 0 && rng.IntN(2) == 0 {
				i := rng.IntN(len(live))
				e := live[i]
				live = append(live[:i], live[i+1:]...)
				if err := s.free(e.page, e.n); err != nil {
					t.Fatalf("seed %d step %d: %v", seed, step, err)
				}
				for p := e.page; p < e.page+e.n; p++ {
					delete(used, p)
				}
			} else {
				n := uint64(1 + rng.IntN(5))
				if rng.IntN(10) == 0 {
					n = uint64(60 + rng.IntN(100))
				}
				hi := uint64(unbounded)
				if rng.IntN(4) == 0 {
					hi = uint64(rng.IntN(300))
				}
				want := uint64(0)
				for {
					fits := true
					for p := want; p < want+n; p++ {
						if used[p] {
							want, fits = p+1, false
							break
						}
					}
					if fits {
						break
					}
				}
				p, ok := s.alloc(n, hi)
				if fits := hi == unbounded || want+n <= hi; ok != fits || ok && p != want {
					t.Fatalf("seed %d step %d: alloc(%d, %d) = %d %v, first fit is %d", seed, step, n, hi, p, ok, want)
				}
				if !ok {
					continue
				}
				for q := p; q < p+n; q++ {
					used[q] = true
				}
				live = append(live, extent{p, n})
			}
			top := floor
			for p := range used {
				top = max(top, p+1)
			}
			if s.end() != top {
				t.Fatalf("seed %d step %d: end %d, want %d", seed, step, s.end(), top)
			}
			for p := uint64(0); p < top+70; p++ {
				if s.used(p) != used[p] {
					t.Fatalf("seed %d step %d: page %d used=%v, model %v", seed, step, p, s.used(p), used[p])
				}
			}
		}
	}
}

// TestDelayedReleaseAgainstModel runs random ticks of superseding and
// releasing: nothing comes back before max_lag ticks, everything after.
func TestDelayedReleaseAgainstModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	const lag = 5
	var l releaseList
	pending := map[uint64]uint64{} // page -> tick superseded
	page := uint64(0)
	for tick := uint64(1); tick < 300; tick++ {
		for range rng.IntN(4) {
			page++
			l.add(tick, extent{page, 1})
			pending[page] = tick
		}
		if tick <= lag {
			continue
		}
		for _, e := range l.due(tick - lag) {
			at, ok := pending[e.page]
			if !ok {
				t.Fatalf("page %d released twice", e.page)
			}
			if tick-at < lag {
				t.Fatalf("page %d superseded at %d released at %d", e.page, at, tick)
			}
			delete(pending, e.page)
		}
		for p, at := range pending {
			if tick-at >= lag {
				t.Fatalf("page %d superseded at %d still held at %d", p, at, tick)
			}
		}
		if l.len() != len(pending) {
			t.Fatalf("list holds %d, model %d", l.len(), len(pending))
		}
	}
}
