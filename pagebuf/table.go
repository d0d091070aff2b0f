package pagebuf

// table is the hash table of entries by page address. Its size is a power of
// two and the hash is the page address masked by it ("RFC: VFD SWMR", 3.4.1);
// it doubles when it holds more entries than buckets.
type table struct {
	buckets []*entry
	n       int

	// Search statistics (see Stats).
	insertions, deletions int64
	hits, hitDepth        int64
	misses, missDepth     int64
	maxSearchDepth        int
}

const minBuckets = 64

func newTable(capacity int) table {
	n := minBuckets
	for n < capacity {
		n <<= 1
	}
	return table{buckets: make([]*entry, n)}
}

func (t *table) bucket(page uint64) int { return int(page & uint64(len(t.buckets)-1)) }

// get finds the entry keyed by page; depth counts the other entries examined.
func (t *table) get(page uint64) *entry {
	depth := 0
	for e := t.buckets[t.bucket(page)]; e != nil; e = e.htNext {
		if e.page == page {
			t.hits++
			t.hitDepth += int64(depth)
			t.noteDepth(depth)
			return e
		}
		depth++
	}
	t.misses++
	t.missDepth += int64(depth)
	t.noteDepth(depth)
	return nil
}

func (t *table) noteDepth(d int) {
	if d > t.maxSearchDepth {
		t.maxSearchDepth = d
	}
}

// put adds e, whose page must not be in the table.
func (t *table) put(e *entry) {
	if t.n >= len(t.buckets) {
		t.grow()
	}
	b := t.bucket(e.page)
	e.htNext = t.buckets[b]
	t.buckets[b] = e
	t.n++
	t.insertions++
}

func (t *table) del(e *entry) {
	p := &t.buckets[t.bucket(e.page)]
	for *p != e {
		p = &(*p).htNext
	}
	*p = e.htNext
	e.htNext = nil
	t.n--
	t.deletions++
}

func (t *table) grow() {
	old := t.buckets
	t.buckets = make([]*entry, 2*len(old))
	for _, e := range old {
		for e != nil {
			next := e.htNext
			b := t.bucket(e.page)
			e.htNext = t.buckets[b]
			t.buckets[b] = e
			e = next
		}
	}
}

// chains reports the number of non-empty buckets and the longest chain.
func (t *table) chains() (used, longest int) {
	for _, e := range t.buckets {
		n := 0
		for ; e != nil; e = e.htNext {
			n++
		}
		if n > 0 {
			used++
		}
		if n > longest {
			longest = n
		}
	}
	return used, longest
}
