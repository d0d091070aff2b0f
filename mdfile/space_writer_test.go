package mdfile

import (
	"math/rand/v2"
	"testing"

	"pwstore/vfs"
)

// snapshotExtents lists every extent, in granules, that a snapshot
// references: root, branches, index pages and stored images.
func snapshotExtents(s *Snapshot) []extent {
	var out []extent
	if s.Header.RootLength > 0 {
		out = append(out, extent{s.Header.RootOffset / granule, granules(s.Header.RootLength)})
	}
	for _, br := range s.branches {
		out = append(out, extent{br.ref.Offset / granule, granules(uint64(br.ref.Length))})
		for _, l := range br.leaves {
			out = append(out, extent{l.ref.Offset / granule, granules(uint64(l.ref.Length))})
			for _, e := range l.entries {
				if e.Stored > 0 {
					out = append(out, extent{e.Offset / granule, granules(e.Stored)})
				}
			}
		}
	}
	return out
}

// TestWriterSpaceInvariants: the extents of one snapshot never overlap,
// and nothing any of the last max_lag snapshots references is free.
func TestWriterSpaceInvariants(t *testing.T) {
	const lag = 4
	path := mdPath(t)
	w := mustCreate(t, vfs.OS, path, WriterOptions{PageSize: 512, MaxLag: lag, ReservedPages: 6, LeafPages: 1})
	rng := rand.New(rand.NewPCG(4, 4))
	m := model{}
	changed, removed := randomTick(rng, m, 1, 512, 40)
	if err := w.Update(1, changed, removed); err != nil {
		t.Fatal(err)
	}
	r := mustOpen(t, path)
	recent := []*Snapshot{r.Current()}
	for tick := uint64(2); tick < 300; tick++ {
		if rng.IntN(5) == 0 {
			if err := w.Heartbeat(tick, w.opts.Now()); err != nil {
				t.Fatal(err)
			}
		} else {
			changed, removed := randomTick(rng, m, tick, 512, 40)
			if err := w.Update(tick, changed, removed); err != nil {
				t.Fatal(err)
			}
		}
		snap, err := r.Load()
		if err != nil {
			t.Fatal(err)
		}
		recent = append(recent, snap)
		if len(recent) > lag {
			recent = recent[1:]
		}
		for _, s := range recent {
			owner := map[uint64]bool{}
			for _, e := range snapshotExtents(s) {
				for p := e.page; p < e.page+e.n; p++ {
					if s == snap && owner[p] {
						t.Fatalf("tick %d: page %d used twice in one snapshot", tick, p)
					}
					owner[p] = true
					if !w.space.used(p) {
						t.Fatalf("writer at tick %d freed page %d of tick %d (max lag %d)", tick, p, s.Tick(), lag)
					}
				}
			}
		}
	}
	if !w.Stats().Relocated {
		t.Fatalf("index never left 6 reserved pages")
	}
}

// TestFileShrinksWhenTailFreed: an index emptied out gives its space back
// max_lag ticks later and the file shrinks to the reserved pages.
func TestFileShrinksWhenTailFreed(t *testing.T) {
	const lag, ps, res = 3, 512, 8
	path := mdPath(t)
	w := mustCreate(t, vfs.OS, path, WriterOptions{PageSize: ps, MaxLag: lag, ReservedPages: res})
	var changed []Image
	var pages []uint64
	for p := range uint64(50) {
		changed = append(changed, Image{Page: p, Data: testImage(p, 1, 1, ps)})
		pages = append(pages, p)
	}
	if err := w.Update(1, changed, nil); err != nil {
		t.Fatal(err)
	}
	size := func() int64 {
		fi, err := vfs.OS.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	big := size()
	if big <= res*ps {
		t.Fatalf("file of %d bytes holds no images", big)
	}
	if err := w.Update(2, nil, pages); err != nil {
		t.Fatal(err)
	}
	for tick := uint64(3); tick < 2+lag; tick++ {
		if err := w.Heartbeat(tick, w.opts.Now()); err != nil {
			t.Fatal(err)
		}
		if size() != big {
			t.Fatalf("tick %d: file shrank to %d before max lag passed", tick, size())
		}
	}
	if err := w.Heartbeat(2+lag, w.opts.Now()); err != nil {
		t.Fatal(err)
	}
	if got := size(); got != res*ps || w.Stats().FileSize != res*ps {
		t.Fatalf("file is %d bytes (stats %d) after its tail was freed, want %d", got, w.Stats().FileSize, res*ps)
	}
}

// TestIndexRelocation: an index outgrowing the reserved pages moves to
// allocated space; readers follow it; the reserved pages it used are
// freed only max_lag ticks later (as ordinary space) and the writer never
// goes back to the reserved window.
func TestIndexRelocation(t *testing.T) {
	const lag, ps, res = 4, 512, 5
	path := mdPath(t)
	w := mustCreate(t, vfs.OS, path, WriterOptions{PageSize: ps, MaxLag: lag, ReservedPages: res, LeafPages: 1})
	m := model{}
	add := func(tick uint64, n int) {
		t.Helper()
		var changed []Image
		for range n {
			p := uint64(len(m)) * 3
			changed = append(changed, Image{Page: p, Data: testImage(p, tick, 1, ps)})
			m[p] = version{tick, 1}
		}
		if err := w.Update(tick, changed, nil); err != nil {
			t.Fatal(err)
		}
	}
	add(1, 5)
	r := mustOpen(t, path)
	inReserved := func(s *Snapshot) []extent {
		var out []extent
		for _, e := range snapshotExtents(s) {
			if e.page < res*ps/granule {
				out = append(out, e)
			}
		}
		return out
	}
	var tick uint64 = 1
	var old []extent
	for !w.Stats().Relocated {
		old = inReserved(r.Current())
		if len(old) == 0 {
			t.Fatalf("tick %d: index not in the reserved pages before relocation", tick)
		}
		tick++
		add(tick, 10)
		snap, err := r.Load()
		if err != nil {
			t.Fatal(err)
		}
		if err := checkSnapshot(r, snap, m); err != nil {
			t.Fatal(err)
		}
	}
	moved := tick
	if got := inReserved(r.Current()); len(got) != 0 {
		t.Fatalf("relocated index still uses reserved pages %v", got)
	}
	for ; tick < moved+lag+3; tick++ {
		for _, e := range old {
			for p := e.page; p < e.page+e.n; p++ {
				if free := !w.space.used(p); free && tick < moved+lag {
					t.Fatalf("reserved page %d of the old index freed at tick %d, relocation at %d", p, tick, moved)
				}
			}
		}
		if tick == moved+lag {
			for _, e := range old {
				if w.space.used(e.page) {
					t.Fatalf("old index page %d still held %d ticks after relocation", e.page, lag)
				}
			}
		}
		if err := w.Heartbeat(tick+1, w.opts.Now()); err != nil {
			t.Fatal(err)
		}
	}
	add(tick+1, 40) // images may now use the freed reserved pages
	snap, err := r.Load()
	if err != nil {
		t.Fatal(err)
	}
	if err := checkSnapshot(r, snap, m); err != nil {
		t.Fatal(err)
	}
	if !w.Stats().Relocated {
		t.Fatalf("index moved back into the reserved pages")
	}
}
