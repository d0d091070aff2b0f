package mdfile

import (
	"fmt"
	"math"
	"math/bits"
)

// granule is the writer's allocation unit in bytes: stored images and
// index pieces start on a granule and occupy whole granules, so an image of
// 139 bytes takes 144, not a page. Readers do not depend on it.
const granule = 16

// granules is the number of granules that bytes occupy.
func granules(bytes uint64) uint64 { return (bytes + granule - 1) / granule }

// space is the metadata file's free-space manager; the writer counts it in
// granules, and the comments below call its unit a page: one bit per
// page, set when the page is in use, under a segment tree that keeps, for every
// node, the longest run of free pages inside it and the free runs at its
// two ends. Coalescing is implicit (adjacent free pages are adjacent zero
// bits); first fit for n pages is one descent of the tree, O(log pages),
// however fragmented the file.
//
// Pages past the tree are free and not in the file: allocating there
// extends the file (the tree grows), and freeing the last used pages
// moves the end back (never below floor, the reserved pages).
type space struct {
	bits  []uint64 // the bitmap; its length (words) is a power of two
	pre   []uint64 // per node: free pages at its low end
	suf   []uint64 // per node: free pages at its high end
	best  []uint64 // per node: longest free run inside it
	floor uint64   // pages the file always spans
}

// unbounded is the hi of an allocation that may extend the file.
const unbounded = math.MaxUint64

func newSpace(floor uint64) *space {
	s := &space{floor: floor}
	s.grow(max(floor, 64))
	return s
}

// words is the number of bitmap words (the tree's leaves).
func (s *space) words() uint64 { return uint64(len(s.bits)) }

// grow makes the tree cover at least pages pages.
func (s *space) grow(pages uint64) {
	w := max(s.words(), 1)
	for w*64 < pages {
		w *= 2
	}
	if w == s.words() {
		return
	}
	s.bits = append(s.bits, make([]uint64, w-s.words())...)
	s.pre, s.suf, s.best = make([]uint64, 2*w), make([]uint64, 2*w), make([]uint64, 2*w)
	for i := range w {
		s.leaf(w + i)
	}
	span := uint64(64)
	for lo := w / 2; lo >= 1; lo /= 2 {
		span *= 2
		for i := lo; i < 2*lo; i++ {
			s.pull(i, span/2)
		}
	}
}

// leaf recomputes tree node i from its bitmap word.
func (s *space) leaf(i uint64) {
	w := s.bits[i-s.words()]
	s.pre[i] = uint64(bits.TrailingZeros64(w))
	s.suf[i] = uint64(bits.LeadingZeros64(w))
	best := uint64(0)
	for free := ^w; free != 0; {
		free >>= bits.TrailingZeros64(free)
		run := uint64(bits.TrailingZeros64(^free))
		best = max(best, run)
		free >>= run
	}
	s.best[i] = best
}

// pull recomputes internal node i from its children of half pages each.
func (s *space) pull(i, half uint64) {
	l, r := 2*i, 2*i+1
	s.pre[i] = s.pre[l]
	if s.pre[l] == half {
		s.pre[i] = half + s.pre[r]
	}
	s.suf[i] = s.suf[r]
	if s.suf[r] == half {
		s.suf[i] = half + s.suf[l]
	}
	s.best[i] = max(s.best[l], s.best[r], s.suf[l]+s.pre[r])
}

func (s *space) used(p uint64) bool {
	w := p / 64
	return w < s.words() && s.bits[w]&(1<<(p%64)) != 0
}

// end is the file's length in pages: one past the highest used page, at
// least floor.
func (s *space) end() uint64 {
	return max(s.floor, s.words()*64-s.suf[1])
}

// firstFit returns the lowest page starting a run of n free pages; the
// free run at the top of the tree extends past it without limit.
func (s *space) firstFit(n uint64) uint64 {
	total := s.words() * 64
	if s.best[1] < n {
		return total - s.suf[1]
	}
	i, base, span := uint64(1), uint64(0), total
	for i < s.words() {
		span /= 2
		l, r := 2*i, 2*i+1
		switch {
		case s.best[l] >= n:
			i = l
		case s.suf[l]+s.pre[r] >= n:
			return base + span - s.suf[l]
		default:
			i, base = r, base+span
		}
	}
	// A run of n pages lies inside this word.
	w, run := s.bits[i-s.words()], uint64(0)
	for b := range uint64(64) {
		if w&(1<<b) != 0 {
			run = 0
			continue
		}
		if run++; run == n {
			return base + b + 1 - n
		}
	}
	return total - s.suf[1] // not reached: best says the run exists; the top run is free anyway
}

// alloc takes the first run of n free pages and returns its first page;
// ok is false when that run would not end at or below hi.
func (s *space) alloc(n, hi uint64) (page uint64, ok bool) {
	if n == 0 {
		return 0, false
	}
	p := s.firstFit(n)
	if hi != unbounded && (p > hi || hi-p < n) {
		return 0, false
	}
	s.mark(p, n, true)
	return p, true
}

// run takes free space for a batch of want pages whose next object needs
// need pages: the first free run of want pages if there is one (else the
// end of the file, which grows); failing that, when the longest free run
// holds need and at least floor pages, that run, whose unused end the
// caller frees. A batch thus lands in a few large runs, never in holes
// smaller than floor.
func (s *space) run(want, need, floor uint64) (p, n uint64) {
	best := s.best[1]
	if best >= want || best < max(need, floor) {
		p, _ = s.alloc(want, unbounded)
		return p, want
	}
	p = s.firstFit(best)
	if p+best >= s.words()*64 { // the free tail: it extends as far as needed
		s.mark(p, want, true)
		return p, want
	}
	s.mark(p, best, true)
	return p, best
}

// take marks [p, p+n) used; the pages must be free.
func (s *space) take(p, n uint64) { s.mark(p, n, true) }

// free returns [p, p+n) to the free space. Freeing a page not in use is a
// bug in the caller, reported as an error.
func (s *space) free(p, n uint64) error {
	if n == 0 || p+n < p {
		return fmt.Errorf("mdfile: free of %d pages at %d", n, p)
	}
	for q := p; q < p+n; q++ {
		if !s.used(q) {
			return fmt.Errorf("mdfile: free of page %d which is not in use", q)
		}
	}
	s.mark(p, n, false)
	return nil
}

// mark sets [p, p+n) used (on) or free and updates the tree above it.
func (s *space) mark(p, n uint64, on bool) {
	s.grow(p + n)
	first, last := p/64, (p+n-1)/64
	for q, left := p, n; left > 0; {
		w, b := q/64, q%64
		k := min(left, 64-b)
		m := uint64(math.MaxUint64)
		if k < 64 {
			m = (1<<k - 1) << b
		}
		if on {
			s.bits[w] |= m
		} else {
			s.bits[w] &^= m
		}
		q += k
		left -= k
	}
	lo, hi := s.words()+first, s.words()+last
	for i := lo; i <= hi; i++ {
		s.leaf(i)
	}
	for half := uint64(64); lo > 1; half *= 2 {
		lo, hi = lo/2, hi/2
		for i := lo; i <= hi; i++ {
			s.pull(i, half)
		}
	}
}
