package mdfile

import (
	"fmt"
	"sort"

	"github.com/cespare/xxhash/v2"
	"go.uber.org/zap"
)

// The writer's index is a three-level copy-on-write tree: the root lists
// branch pages, a branch lists index pages (leaves), a leaf holds sorted
// entries. An update replaces only the leaves holding changed entries,
// the branches holding those leaves and the root, so its cost follows the
// pages changed, not the index size.

// wleaf is one index page as the writer holds it.
type wleaf struct {
	lo      uint64 // entries[0].Page, kept here: the merge's searches read only it
	entries []Entry
	at      extent // where it is on disk; n == 0 until placed
	ref     Ref
	dirty   bool // must be (re)written this update
}

func newLeaf(entries []Entry) *wleaf {
	l := &wleaf{entries: entries, dirty: true}
	if len(entries) > 0 {
		l.lo = entries[0].Page
	}
	return l
}

func (l *wleaf) first() uint64  { return l.lo }
func (l *wleaf) items() []Entry { return l.entries }
func (l *wleaf) place() extent  { return l.at }
func (l *wleaf) changed() bool  { return l.dirty }

// wbranch is one branch page: a run of index pages.
type wbranch struct {
	lo      uint64 // leaves[0].first()
	leaves  []*wleaf
	at      extent
	ref     Ref
	entries int // entries in its leaves
	dirty   bool
}

func newBranch(leaves []*wleaf) *wbranch {
	b := &wbranch{leaves: leaves, dirty: true}
	if len(leaves) > 0 {
		b.lo = leaves[0].lo
	}
	return b
}

func (b *wbranch) first() uint64   { return b.lo }
func (b *wbranch) items() []*wleaf { return b.leaves }
func (b *wbranch) place() extent   { return b.at }
func (b *wbranch) changed() bool   { return b.dirty }

// evenRun is the length of the first of the fewest runs of at most limit
// items that n items split into evenly.
func evenRun(n, limit int) int {
	runs := (n + limit - 1) / limit
	return (n + runs - 1) / runs
}

// small says whether two neighbours should become one page: one of them
// changed, one is under a quarter full, and together they fit.
func small(a, b, limit int, dirty bool) bool {
	return dirty && (a < limit/4 || b < limit/4) && a+b <= limit
}

// merge applies ops to the index copy-on-write: untouched branches and
// leaves are shared, touched ones replaced by new dirty pages (split when
// full, joined with a neighbour when nearly empty). It returns the new
// branches and the extents the update supersedes.
func (w *Writer) merge(ops []change) ([]*wbranch, []extent, error) {
	var superseded []extent
	joined, err := mergeLevel(w.branches, ops, w.bcap, &superseded,
		func(leaves []*wleaf, ops []change) ([]*wleaf, error) { return w.mergeLeaves(leaves, ops, &superseded) },
		newBranch)
	if err != nil {
		return nil, nil, err
	}
	for k, br := range joined {
		if !br.dirty {
			continue
		}
		around := make([]*wleaf, 0, len(br.leaves)+2)
		if k > 0 {
			p := joined[k-1].leaves
			around = append(around, p[len(p)-1])
		}
		around = append(around, br.leaves...)
		if k+1 < len(joined) {
			around = append(around, joined[k+1].leaves[0])
		}
		if err := w.checkOverlaps(around); err != nil {
			return nil, nil, err
		}
	}
	return joined, superseded, nil
}

// mergeLeaves applies sorted ops, all inside one branch's range, to its
// leaves and returns the new leaves.
func (w *Writer) mergeLeaves(old []*wleaf, ops []change, superseded *[]extent) ([]*wleaf, error) {
	return mergeLevel(old, ops, w.cap, superseded,
		func(entries []Entry, ops []change) ([]Entry, error) { return w.mergeLeaf(entries, ops, superseded) },
		newLeaf)
}

// node is a page of one level of the writer's tree holding items of type
// K: a leaf (entries) or a branch (leaves).
type node[K any] interface {
	first() uint64
	items() []K
	place() extent // where it is on disk; n == 0 until placed
	changed() bool // must be (re)written this update
}

// mergeLevel applies sorted ops to the pages old of one level: each page
// whose range ops touch gets its items from mergeItems, made into new
// pages by build (split into runs of at most limit); untouched pages are
// kept; a changed page nearly empty is joined with a neighbour. The pages
// replaced go to superseded.
//
// Its cost follows the pages ops touch, not the level's size: it finds
// each touched page by binary search on first() (kept in the node, so one
// memory read a probe) and copies the untouched runs between them whole.
// That the untouched pages need no join test rests on their being clean:
// only the pages an update builds are changed, and a successful update
// writes them all (encodeIndex), while a failed one leaves the writer
// unusable.
func mergeLevel[K any, N node[K]](old []N, ops []change, limit int, superseded *[]extent,
	mergeItems func([]K, []change) ([]K, error), build func([]K) N) ([]N, error) {
	if len(ops) == 0 {
		return old, nil
	}
	if len(old) == 0 {
		old = []N{build(nil)} // a stand-in for an empty level, never kept
	}
	out := make([]N, 0, len(old)+1)
	// add appends n to out, joined with out's last page when one of them
	// changed and they are small enough together.
	add := func(n N) {
		if k := len(out); k > 0 {
			prev := out[k-1]
			if small(len(prev.items()), len(n.items()), limit, prev.changed() || n.changed()) {
				for _, x := range []N{prev, n} {
					if at := x.place(); at.n > 0 {
						*superseded = append(*superseded, at)
					}
				}
				both := make([]K, 0, len(prev.items())+len(n.items()))
				out[k-1] = build(append(append(both, prev.items()...), n.items()...))
				return
			}
		}
		out = append(out, n)
	}
	// keep appends the untouched pages old[i:j]: past the first that does
	// not join a changed page before it, the rest go as they are.
	keep := func(i, j int) {
		for ; i < j; i++ {
			if k := len(out); k > 0 && out[k-1].changed() {
				add(old[i])
				continue
			}
			out = append(out, old[i:j]...)
			return
		}
	}
	i, oi := 0, 0 // old[:i] and ops[:oi] are done
	for oi < len(ops) {
		// The page that holds ops[oi]: the last one starting at or
		// before it, or the first.
		page := ops[oi].page
		t := i + sort.Search(len(old)-i, func(k int) bool { return old[i+k].first() > page }) - 1
		t = max(t, i)
		keep(i, t)
		hi := uint64(maxPage)
		if t+1 < len(old) {
			hi = old[t+1].first()
		}
		oj := oi
		for oj < len(ops) && ops[oj].page < hi {
			oj++
		}
		n := old[t]
		items, err := mergeItems(n.items(), ops[oi:oj])
		if err != nil {
			return nil, err
		}
		if at := n.place(); at.n > 0 {
			*superseded = append(*superseded, at)
		}
		for k := 0; k < len(items); {
			size := evenRun(len(items)-k, limit)
			add(build(items[k : k+size]))
			k += size
		}
		i, oi = t+1, oj
	}
	keep(i, len(old))
	return out, nil
}

// mergeLeaf applies sorted ops to one leaf's entries old and returns the
// new entries, adding to superseded the extents of the images they
// supersede.
func (w *Writer) mergeLeaf(old []Entry, ops []change, superseded *[]extent) ([]Entry, error) {
	out := make([]Entry, 0, len(old)+len(ops))
	i := 0
	for _, op := range ops {
		for i < len(old) && old[i].Page < op.page {
			out = append(out, old[i])
			i++
		}
		found := i < len(old) && old[i].Page == op.page
		if found {
			if e := old[i]; e.Stored > 0 {
				*superseded = append(*superseded, extent{e.Offset / granule, granules(e.Stored)})
			}
			i++
		}
		if op.data == nil {
			if !found {
				return nil, fmt.Errorf("removal of page %d which is not in the index: %w", op.page, ErrBadUpdate)
			}
			continue
		}
		out = append(out, op.ent)
	}
	return append(out, old[i:]...), nil
}

// checkOverlaps checks that no multi-page entry covers the next entry,
// inside and around every dirty leaf of leaves.
func (w *Writer) checkOverlaps(leaves []*wleaf) error {
	bad := func(a, b Entry) error {
		if b.Page < a.Page+a.pages(w.ps) {
			return fmt.Errorf("entry of page %d (%d pages) overlaps page %d: %w", a.Page, a.pages(w.ps), b.Page, ErrBadUpdate)
		}
		return nil
	}
	for k, lf := range leaves {
		if !lf.dirty {
			continue
		}
		for i := 1; i < len(lf.entries); i++ {
			if err := bad(lf.entries[i-1], lf.entries[i]); err != nil {
				return err
			}
		}
		if k > 0 {
			if err := bad(leaves[k-1].entries[len(leaves[k-1].entries)-1], lf.entries[0]); err != nil {
				return err
			}
		}
		if k+1 < len(leaves) {
			if err := bad(lf.entries[len(lf.entries)-1], leaves[k+1].entries[0]); err != nil {
				return err
			}
		}
	}
	return nil
}

// place allocates the tick's space: the stored images and the dirty
// leaves, dirty branches and root, packed in that order into as few runs
// as the free space allows (one, unless no hole holds the whole tick), so
// that an end of tick is a few large writes. While the index fits in the
// reserved pages it goes there instead, in one run of its own; once it
// does not, it moves (for good) to allocated space: the relocation
// rewrites every piece still in the reserved pages and supersedes them.
// It sets the new entries' offsets, in ops and in the dirty leaves. The
// old root goes onto superseded by the caller.
func (w *Writer) place(ops []change, branches []*wbranch, superseded []extent) []extent {
	var objs []*extent // the index pieces, in write order, sized
	sizeIndex := func() uint64 {
		objs = objs[:0]
		var total uint64
		add := func(at *extent, bytes uint64) {
			*at = extent{n: granules(bytes)}
			objs = append(objs, at)
			total += at.n
		}
		for _, br := range branches {
			if !br.dirty {
				continue
			}
			for _, lf := range br.leaves {
				if lf.dirty {
					add(&lf.at, leafLength(len(lf.entries)))
				}
			}
			add(&br.at, nodeLength(len(br.leaves)))
		}
		if len(branches) > 0 {
			add(&w.root, nodeLength(len(branches)))
		}
		return total
	}
	w.root = extent{}
	total := sizeIndex()
	imgs := make([]extent, 0, len(ops))
	for i := range ops {
		if op := &ops[i]; op.data != nil {
			op.ent.Offset = headerBytes // where an all-zero image "is": nothing is read
			if op.ent.Stored > 0 {
				imgs = append(imgs, extent{n: granules(op.ent.Stored)})
			}
		}
	}
	images := make([]*extent, len(imgs), len(imgs)+len(objs))
	for i := range imgs {
		images[i] = &imgs[i]
	}
	inReserve := false
	if !w.relocated {
		if p, ok := w.reserved.alloc(total, w.res); ok || total == 0 {
			for _, at := range objs {
				at.page, p = p, p+at.n
			}
			inReserve = true
		} else {
			w.relocated = true
			w.log.Info("metadata file index relocated out of the reserved pages",
				zap.Int("branches", len(branches)), zap.Uint64("reserved_bytes", w.res*granule))
			superseded = w.relocate(branches, superseded)
			sizeIndex() // every piece is dirty now
		}
	}
	if inReserve {
		w.fill(images)
	} else {
		w.fill(append(images, objs...))
	}
	k := 0
	for i := range ops {
		if op := &ops[i]; op.data != nil && op.ent.Stored > 0 {
			op.ent.Offset = imgs[k].page * granule
			k++
		}
	}
	w.setOffsets(ops, branches)
	return superseded
}

// minRun is the smallest hole, in bytes, that a tick's batch is split
// into when no hole holds all of it.
const minRun = 8 << 10

// fill places objs, sized, one after the other in runs of w.space.
func (w *Writer) fill(objs []*extent) {
	var want uint64
	for _, at := range objs {
		want += at.n
	}
	for i := 0; i < len(objs); {
		p, n := w.space.run(want, objs[i].n, max(want/16, minRun/granule))
		end := p + n
		for ; i < len(objs) && p+objs[i].n <= end; i++ {
			objs[i].page, p = p, p+objs[i].n
			want -= objs[i].n
		}
		if p < end {
			w.space.free(p, end-p) // just taken: cannot fail
		}
	}
}

// relocate marks every index piece dirty, so that it is rewritten outside
// the reserved pages, and supersedes the reserved pages: the free ones
// and those the pieces leave become ordinary space max_lag ticks from now.
// Until then w.space keeps them taken; w.reserved is done with.
func (w *Writer) relocate(branches []*wbranch, superseded []extent) []extent {
	for p := uint64(headerBytes / granule); p < w.res; {
		q := p
		for q < w.res && !w.reserved.used(q) {
			q++
		}
		if q > p {
			superseded = append(superseded, extent{p, q - p})
		}
		for p = q; p < w.res && w.reserved.used(p); p++ {
		}
	}
	for _, br := range branches {
		if !br.dirty {
			superseded = append(superseded, br.at)
			br.dirty = true
		}
		for _, lf := range br.leaves {
			if !lf.dirty {
				superseded = append(superseded, lf.at)
				lf.dirty = true
			}
		}
	}
	return superseded
}

// setOffsets copies the placed offsets of the changed images into their
// entries in the dirty leaves (merge put them there before placement).
func (w *Writer) setOffsets(ops []change, branches []*wbranch) {
	k := 0
	for _, br := range branches {
		if !br.dirty {
			continue
		}
		for _, lf := range br.leaves {
			if !lf.dirty {
				continue
			}
			for j := range lf.entries {
				e := &lf.entries[j]
				for k < len(ops) && ops[k].page < e.Page {
					k++
				}
				if k < len(ops) && ops[k].page == e.Page && ops[k].data != nil {
					e.Offset = ops[k].ent.Offset
				}
			}
		}
	}
}

// encodeIndex encodes the dirty leaves and branches, adds them to pieces
// and returns the entry and leaf totals.
func (w *Writer) encodeIndex(tick uint64, branches []*wbranch, pieces []piece) ([]piece, int, int) {
	entries, nleaves := 0, 0
	for _, br := range branches {
		if br.dirty {
			refs := make([]Ref, len(br.leaves))
			br.entries = 0
			for j, lf := range br.leaves {
				if lf.dirty {
					b := encodeLeaf(make([]byte, 0, leafLength(len(lf.entries))), w.ps, tick, lf.entries)
					lf.ref = Ref{First: lf.first(), Offset: lf.at.page * granule, Length: uint32(len(b)),
						Count: uint32(len(lf.entries)), Checksum: xxhash.Sum64(b)}
					pieces = append(pieces, piece{lf.ref.Offset, b})
					lf.dirty = false
				}
				refs[j] = lf.ref
				br.entries += len(lf.entries)
			}
			b := encodeNode(make([]byte, 0, nodeLength(len(refs))), branchMagic, tick, uint64(br.entries), refs)
			br.ref = Ref{First: br.first(), Offset: br.at.page * granule, Length: uint32(len(b)),
				Count: uint32(len(br.leaves)), Checksum: xxhash.Sum64(b)}
			pieces = append(pieces, piece{br.ref.Offset, b})
			br.dirty = false
		}
		entries += br.entries
		nleaves += len(br.leaves)
	}
	return pieces, entries, nleaves
}
