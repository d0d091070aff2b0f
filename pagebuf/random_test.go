package pagebuf

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// The randomized test drives a leader buffer and a follower buffer (the same
// Writes, as two ranks of a parallel writer would make) with a random
// sequence of operations, compares every read with a map of the logical
// contents, checks every structure after every operation, and vets every
// write to the data file against what each reader still allowed to lag
// could read there (the "message from the future" rule), stated in terms of
// published indexes rather than the buffer's own bookkeeping.

type keyState struct {
	npages    int
	content   []byte // logical image; nil once freed
	allocTick uint64 // tick it was allocated in, 0 for pages present at start
	history   []event
}

// event is the state of an entry as published at the end of tick.
type event struct {
	tick      uint64
	reachable bool // some published metadata can lead a reader to it
	inIndex   bool
	content   []byte
}

type model struct {
	t        *testing.T
	mode     Mode
	lag      uint64
	pageSize int
	rng      *rand.Rand

	lead, fol *Buffer
	be        *memBackend

	keys    map[uint64]*keyState
	live    []uint64
	next    uint64
	cur     uint64
	changed map[uint64]bool // written in the open tick
	freedT  []uint64        // freed in the open tick
	inIndex map[uint64]bool

	hookErr error
	ops     int
}

// state returns the published state of key at tick t (zero event: not
// reachable).
func (ks *keyState) state(t uint64) event {
	for i := len(ks.history) - 1; i >= 0; i-- {
		if ks.history[i].tick <= t {
			return ks.history[i]
		}
	}
	return event{}
}

// followerBackend reads the shared data file and refuses to write.
type followerBackend struct{ *memBackend }

func (followerBackend) WritePages(page uint64, p []byte) error {
	return fmt.Errorf("follower wrote %d bytes at page %d", len(p), page)
}

func newModel(t *testing.T, mode Mode, lag uint64, capacity int, seed uint64) *model {
	m := &model{
		t: t, mode: mode, lag: lag, pageSize: 64,
		rng:  rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		be:   newMem(64),
		keys: make(map[uint64]*keyState), changed: make(map[uint64]bool),
		inIndex: make(map[uint64]bool), cur: 1,
	}
	// The data file starts with 20 single pages and 2 three-page entries.
	for i := 0; i < 22; i++ {
		n := 1
		if i >= 20 {
			n = 3
		}
		k := m.next
		m.next += uint64(n)
		c := img(m.pageSize, k, n, 0)
		m.be.put(k, c)
		m.keys[k] = &keyState{npages: n, content: c, history: []event{{0, true, false, c}}}
		m.live = append(m.live, k)
	}
	m.be.check = m.vetWrite
	var err error
	cfg := Config{PageSize: m.pageSize, MaxPages: capacity, Mode: mode, MaxLag: lag, Leader: true}
	if m.lead, err = New(cfg, m.be); err != nil {
		t.Fatal(err)
	}
	cfg.Leader, cfg.Follower = false, true
	if m.fol, err = New(cfg, followerBackend{m.be}); err != nil {
		t.Fatal(err)
	}
	m.lead.SetEvictHook(func(p []uint64) { m.vetEvicted("leader", p) })
	m.fol.SetEvictHook(func(p []uint64) { m.vetEvicted("follower", p) })
	return m
}

// vetWrite is called by the data file before each write lands: one write
// may hold several entries on adjacent pages.
func (m *model) vetWrite(page uint64, p []byte) error {
	for len(p) > 0 {
		ks := m.keys[page]
		if ks == nil {
			return fmt.Errorf("write at page %d, which no entry starts at", page)
		}
		n := ks.npages * m.pageSize
		if n > len(p) {
			return fmt.Errorf("write at page %d ends inside entry %d", page, page)
		}
		if err := m.vetEntry(page, p[:n]); err != nil {
			return err
		}
		page, p = page+uint64(ks.npages), p[n:]
	}
	return nil
}

// vetEntry checks the write of one entry's image.
func (m *model) vetEntry(page uint64, p []byte) error {
	ks := m.keys[page]
	switch {
	case ks == nil:
		return fmt.Errorf("write at page %d, which no entry starts at", page)
	case ks.content == nil:
		return fmt.Errorf("write of freed entry %d", page)
	case !bytes.Equal(p, ks.content):
		return fmt.Errorf("write of entry %d with an image that is not its current one", page)
	}
	if m.mode != SWMRWriter {
		return nil
	}
	hdr := m.be.published
	lo := uint64(0)
	if hdr+1 > m.lag {
		lo = hdr + 1 - m.lag
	}
	for t := lo; t <= hdr; t++ {
		ev := ks.state(t)
		if ev.reachable && !ev.inIndex && !bytes.Equal(ev.content, p) {
			return fmt.Errorf("message from the future: entry %d written while header is at tick %d, but a reader at tick %d reads it from the data file and expects its older image", page, hdr, t)
		}
	}
	return nil
}

// vetEvicted checks that an entry that left the buffer unchanged was clean:
// the data file has its current image and it was not changed this tick.
func (m *model) vetEvicted(who string, pages []uint64) {
	for _, k := range pages {
		ks := m.keys[k]
		switch {
		case ks == nil || ks.content == nil:
			m.hookErr = fmt.Errorf("%s evicted %d, which is not a live entry", who, k)
		case m.mode == SWMRWriter && m.changed[k]:
			m.hookErr = fmt.Errorf("%s evicted %d, which is on the tick list", who, k)
		case !bytes.Equal(m.be.image(k, ks.npages), ks.content):
			m.hookErr = fmt.Errorf("%s evicted dirty entry %d", who, k)
		}
	}
}

func (m *model) fail(format string, args ...any) {
	m.t.Helper()
	m.t.Fatalf("op %d (open tick %d): %s", m.ops, m.cur, fmt.Sprintf(format, args...))
}

func (m *model) after(what string, err error) {
	m.t.Helper()
	if err != nil {
		m.fail("%s: %v", what, err)
	}
	if m.hookErr != nil {
		m.fail("%s: %v", what, m.hookErr)
	}
	for _, b := range []*Buffer{m.lead, m.fol} {
		if err := b.CheckInvariants(); err != nil {
			m.fail("%s: %v", what, err)
		}
	}
}

func (m *model) pick() uint64 { return m.live[m.rng.IntN(len(m.live))] }

func (m *model) read() {
	k := m.pick()
	ks := m.keys[k]
	for _, b := range []*Buffer{m.lead, m.fol} {
		got, err := b.Read(k, ks.npages)
		m.after(fmt.Sprintf("read %d", k), err)
		if !bytes.Equal(got, ks.content) {
			m.fail("read %d: wrong image", k)
		}
	}
}

func (m *model) write(k uint64) {
	ks := m.keys[k]
	ks.content = img(m.pageSize, k, ks.npages, m.rng.IntN(1<<30))
	fresh := ks.allocTick == m.cur
	m.changed[k] = true
	m.after(fmt.Sprintf("leader write %d", k), m.lead.Write(k, ks.content, fresh))
	m.after(fmt.Sprintf("follower write %d", k), m.fol.Write(k, bytes.Clone(ks.content), fresh))
}

func (m *model) alloc() {
	n := 1
	if m.rng.IntN(5) == 0 {
		n = 2 + m.rng.IntN(2)
	}
	k := m.next
	m.next += uint64(n)
	m.keys[k] = &keyState{npages: n, allocTick: m.cur}
	m.live = append(m.live, k)
	m.write(k)
}

func (m *model) free() {
	i := m.rng.IntN(len(m.live))
	k := m.live[i]
	m.live = slices.Delete(m.live, i, i+1)
	ks := m.keys[k]
	ks.content = nil
	delete(m.changed, k)
	m.freedT = append(m.freedT, k)
	m.lead.Free(k, ks.npages)
	m.fol.Free(k, ks.npages)
	m.after(fmt.Sprintf("free %d", k), nil)
}

func (m *model) invalidate() {
	var pages []uint64
	for range 1 + m.rng.IntN(3) {
		k := m.pick()
		pages = append(pages, k+uint64(m.rng.IntN(m.keys[k].npages))) // sometimes a page inside
	}
	for _, b := range []*Buffer{m.lead, m.fol} {
		b.Invalidate(pages)
		m.after(fmt.Sprintf("invalidate %v", pages), nil)
	}
}

func (m *model) flush() {
	_, err := m.lead.Flush()
	m.after("leader flush", err)
	m.sync()
	_, err = m.fol.Flush()
	m.after("follower flush", err)
}

// sync is a sync point: the leader tells the follower what it wrote.
func (m *model) sync() {
	m.after("mark clean", m.fol.MarkClean(m.lead.TakeWritten()))
}

func (m *model) endTick() {
	if m.mode != SWMRWriter {
		m.flush()
		return
	}
	res, err := m.lead.EndTick(m.cur)
	m.after("leader end tick", err)
	fres, err := m.fol.EndTick(m.cur)
	m.after("follower end tick", err)
	if res.Tick != m.cur {
		m.fail("end tick returned tick %d", res.Tick)
	}
	// The changes are exactly this tick's writes, with their images.
	var want []uint64
	for k := range m.changed {
		want = append(want, k)
	}
	slices.Sort(want)
	var got []uint64
	for i, c := range res.Changes {
		got = append(got, c.Page)
		ks := m.keys[c.Page]
		if ks == nil || !bytes.Equal(c.Image, ks.content) || c.NPages != ks.npages {
			m.fail("change %d: wrong image or size", c.Page)
		}
		if fc := fres.Changes[i]; fc.Page != c.Page || !bytes.Equal(fc.Image, c.Image) {
			m.fail("follower's change %d differs from the leader's", i)
		}
	}
	if !slices.Equal(got, want) {
		m.fail("changes %v, want %v", got, want)
	}
	if !slices.IsSorted(res.Remove) {
		m.fail("removals not sorted: %v", res.Remove)
	}
	removed := make(map[uint64]bool)
	for _, k := range res.Remove {
		ks := m.keys[k]
		switch {
		case !m.inIndex[k]:
			m.fail("remove %d, which is not in the index", k)
		case m.changed[k]:
			m.fail("remove %d, changed this tick", k)
		case ks.content != nil && !bytes.Equal(m.be.image(k, ks.npages), ks.content):
			m.fail("remove %d, whose current image is not in the data file", k)
		}
		removed[k] = true
	}
	for _, k := range m.freedT {
		if m.inIndex[k] && !removed[k] {
			m.fail("freed entry %d stays in the index", k)
		}
	}
	// Publish.
	for _, k := range want {
		ks := m.keys[k]
		ks.history = append(ks.history, event{m.cur, true, true, ks.content})
		m.inIndex[k] = true
	}
	for _, k := range res.Remove {
		ks := m.keys[k]
		delete(m.inIndex, k)
		if ks.content != nil {
			ks.history = append(ks.history, event{m.cur, true, false, ks.content})
		}
	}
	for _, k := range m.freedT {
		m.keys[k].history = append(m.keys[k].history, event{tick: m.cur})
	}
	m.freedT = m.freedT[:0]
	clear(m.changed)
	m.be.published = m.cur
	m.cur++
	m.sync()
}

func (m *model) step() {
	m.ops++
	r := m.rng.IntN(100)
	switch {
	case len(m.live) > 60 && r < 20, len(m.live) > 5 && r < 5:
		m.free()
	case r < 35:
		m.read()
	case r < 60:
		m.write(m.pick())
	case r < 68:
		m.alloc()
	case r < 80:
		m.endTick()
	case r < 85:
		m.invalidate()
	case r < 90:
		m.flush()
	default:
		m.read()
	}
}

// drain ends ticks until nothing waits, then checks the data file holds
// every live entry's image and, after max_lag more ticks, the index is empty.
func (m *model) drain() {
	for i := uint64(0); ; i++ {
		pending, err := m.lead.Flush()
		m.after("drain flush", err)
		if pending == 0 {
			break
		}
		if i > m.lag+2 {
			m.fail("%d entries still pending after %d ticks", pending, i)
		}
		m.endTick()
	}
	for _, k := range m.live {
		ks := m.keys[k]
		if !bytes.Equal(m.be.image(k, ks.npages), ks.content) {
			m.fail("after drain, data file lacks entry %d", k)
		}
	}
	if m.mode != SWMRWriter {
		return
	}
	for range m.lag + 1 {
		m.endTick()
	}
	if len(m.inIndex) != 0 {
		m.fail("index still holds %d entries after draining", len(m.inIndex))
	}
	m.sync()
	if pending, _ := m.fol.Flush(); pending != 0 {
		m.fail("follower still has %d dirty entries after the leader drained", pending)
	}
}

func TestRandomized(t *testing.T) {
	for _, tc := range []struct {
		mode     Mode
		lag      uint64
		capacity int
		ops      int
	}{
		{SWMRWriter, 3, 4, 100_000},
		{SWMRWriter, 1, 2, 20_000},
		{SWMRWriter, 5, 12, 20_000},
		{Plain, 0, 4, 20_000},
	} {
		t.Run(fmt.Sprintf("%v/lag%d/cap%d", tc.mode, tc.lag, tc.capacity), func(t *testing.T) {
			m := newModel(t, tc.mode, tc.lag, tc.capacity, uint64(tc.lag)*1000+uint64(tc.capacity))
			for m.ops < tc.ops {
				m.step()
			}
			m.drain()
			st := m.lead.Stats()
			t.Logf("%d ops, %d ticks: %+v", m.ops, m.cur-1, st)
			if st.Evictions == 0 || st.Flushes == 0 || st.Hits == 0 || st.Loads == 0 {
				t.Errorf("the sequence did not exercise eviction, write-back, hits and loads: %+v", st)
			}
			if tc.mode == SWMRWriter && tc.lag > 1 && st.DelayedWrites == 0 {
				t.Errorf("no delayed writes happened")
			}
		})
	}
}

// The checks of the randomized test must be able to fail: a buffer that
// ignores the delay rule is caught.
func TestRandomizedCatchesEarlyWrite(t *testing.T) {
	m := newModel(t, SWMRWriter, 3, 4, 7)
	k := m.live[0]
	m.write(k)
	m.endTick() // published at tick 1; a reader at tick 0 expects the old image
	err := m.be.WritePages(k, m.keys[k].content)
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("message from the future")) {
		t.Fatalf("early write not caught: %v", err)
	}
	if errors.Is(err, ErrInvariant) {
		t.Fatal("wrong error")
	}
}
