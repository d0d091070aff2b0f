package pfile

import (
	"cmp"
	"fmt"
	"slices"
	"sort"

	"pwstore/vfs"
)

// chunkCache holds the bytes this rank has written to chunks and not yet
// written back (chunks over half its limit, writes of whole chunks, and
// writes of directWrite bytes or more bypass it). For each chunk it keeps the written bytes, from the lowest to
// the highest written offset, and the byte ranges written, and writes back
// only those ranges: ranks writing disjoint elements of one chunk never
// overwrite each other's bytes. Reads merge the file's bytes with the cached
// ranges; nothing is cached for reading, so a reader always sees the data
// file's current bytes.
//
// A sole writer (Options.SoleWriter) also keeps mirrors: images of the
// small chunks it allocated in this session, whose every byte it knows
// (zero until written; no other process writes them). A mirror holds a
// chunk's bytes up to the highest it wrote, the rest being zero. Dirty
// mirrors that lie next to each other in the file are written back as one
// run, their clean bytes between the written ranges included: a round
// robin's end of tick is then a few large writes rather than one small
// write a dataset, each of which costs the kernel a page's work
// (docs/DECISIONS.md).
type chunkCache struct {
	limit  int                     // bytes held before the oldest chunks are written back
	bytes  int                     // bytes held (the chunks' buffers, mirrors' included)
	chunks map[uint64]*cachedChunk // by the chunk's byte offset in the data file
	order  []*cachedChunk          // the chunks with written ranges (dirty), oldest first
	// spare: chunks written back, for reuse with their buffers (those of at
	// most spareBuf bytes): round robin writes back every chunk at every
	// end of tick and caches it again at its next append.
	spare []*cachedChunk

	// alloc reserves the disk space of a chunk before its first bytes
	// are written (preallocate), while it works; nil: not at all. Ranks
	// of a parallel writer reserve nothing: each would reserve whole
	// chunks that other ranks write parts of, and on a parallel file
	// system a reservation takes the range's lock from the clients
	// writing it, making them write their cached bytes back.
	// Every chunk ending at or below allocated was reserved or passed
	// over: chunks are mostly written in the order of their addresses.
	alloc     vfs.Allocator
	allocated uint64

	sole     bool           // mirror fresh small chunks (Options.SoleWriter)
	reserved int            // the live mirrors' chunk sizes: at most limit
	live     int            // live mirrors
	mirrors  []*cachedChunk // mirrors, oldest first; entries no longer mirrors (mirror false) are skipped
	run      []byte         // the write-back buffer of a run of mirrors
}

// spareBuf is the largest buffer a spare chunk keeps.
const spareBuf = 4096

// mirrorMax is the largest chunk a sole writer mirrors: a run's write
// then carries at most this much of a chunk's clean bytes per written
// range.
const mirrorMax = 16 << 10

// runMax bounds the bytes of one write of a run of mirrors.
const runMax = 1 << 20

// directWrite: a write of this many bytes or more goes straight to the
// file, whatever the chunk: copying it into the cache would cost more
// than the one system call it saves, and an application writing a large
// chunk in pieces (each of a size the CPU's caches hold, as it computes
// them) would pay that copy on every piece.
const directWrite = 64 << 10

// cachedChunk is what the cache holds of one chunk. buf covers chunk bytes
// [base, base+len(buf)), not the whole chunk: a one-element append to a
// 4 KiB chunk holds 4 bytes, not a fresh 4 KiB buffer every tick. Bytes of
// buf outside dirty are never read - but for a mirror, whose buf (base 0)
// is the chunk as the file holds it once dirty is written back, up to the
// highest byte written (the rest is zero).
type cachedChunk struct {
	addr   uint64
	base   uint64
	buf    []byte
	dirty  []span // written ranges of the chunk: sorted, disjoint, not touching
	mirror bool   // buf is the start of the chunk's image
	size   uint64 // the chunk's size
}

// span is the byte range [lo, hi).
type span struct{ lo, hi uint64 }

// newChunkCache is the cache of a File writing raw; sole: the File's sole
// writer (Options.SoleWriter), which mirrors chunks and, if raw can,
// reserves their space.
func newChunkCache(limit int, sole bool, raw vfs.File) *chunkCache {
	c := &chunkCache{limit: limit, chunks: map[uint64]*cachedChunk{}, sole: sole}
	if a, ok := raw.(vfs.Allocator); ok && sole {
		c.alloc = a
	}
	return c
}

// preallocate reserves the disk space of the chunks spanning [lo, hi)
// before a write into them, unless a reservation reached hi before. It is
// a hint: if the file cannot, reservations stop and the write goes on (and
// says what is wrong, a full disk say). Whole chunks are reserved at their
// first write, as HDF5 allocates a chunk when it is first written; a
// partly written chunk then takes its whole size on disk.
func (c *chunkCache) preallocate(lo, hi uint64) {
	if c.alloc == nil || hi <= c.allocated {
		return
	}
	lo = max(lo, c.allocated)
	if err := c.alloc.Allocate(int64(lo), int64(hi-lo)); err != nil {
		c.alloc = nil
		return
	}
	c.allocated = hi
}

// write copies p into the chunk r at byte off of the chunk, writing back
// the oldest chunks first if the cache is over its limit. A chunk larger
// than half the cache is not cached, and neither is a write of a whole
// chunk (it needs no merging with any other bytes, so copying it would only
// cost time) or of directWrite bytes or more: p goes straight to the file,
// after what the cache holds of the chunk (written before p), and the
// chunk is no longer mirrored.
func (c *chunkCache) write(raw vfs.File, r Record, off uint64, p []byte) error {
	whole := off == 0 && uint64(len(p)) == r.Size
	if whole || r.Size > uint64(c.limit/2) || len(p) >= directWrite {
		if whole {
			c.drop(r.Addr) // superseded
		} else if err := c.settle(raw, r.Addr); err != nil {
			return err // what the cache held of the chunk goes first
		}
		c.preallocate(r.Addr, r.Addr+r.Size)
		if _, err := raw.WriteAt(p, int64(r.Addr+off)); err != nil {
			return fmt.Errorf("write chunk at byte %d: %w", r.Addr, err)
		}
		return nil
	}
	ch, ok := c.chunks[r.Addr]
	if !ok {
		ch = c.newChunk(r.Addr, off, r.Size)
		c.chunks[r.Addr] = ch
	}
	if len(ch.dirty) == 0 {
		c.order = append(c.order, ch)
	}
	c.bytes += ch.hold(off, p)
	ch.mark(span{off, off + uint64(len(p))})
	// Past the limit the oldest chunks go, possibly this one (p is in it).
	return c.makeRoom(raw)
}

// fresh tells a sole writer's cache of a chunk just allocated, whose bytes
// no one has written: a small one is mirrored, while the mirrors' chunks
// add up to the cache's limit at most (the oldest stop being mirrors
// first).
func (c *chunkCache) fresh(r Record) {
	if !c.sole || r.Size > mirrorMax || c.chunks[r.Addr] != nil {
		return
	}
	size := int(r.Size)
	for c.reserved+size > c.limit && c.unmirrorOldest() {
	}
	if c.reserved+size > c.limit {
		return
	}
	ch := &cachedChunk{addr: r.Addr, mirror: true, size: r.Size}
	c.chunks[r.Addr] = ch
	c.mirrors = append(c.mirrors, ch)
	c.reserved += size
	c.live++
	if len(c.mirrors) > 2*c.live+64 { // many dropped: forget their entries
		c.mirrors = slices.DeleteFunc(c.mirrors, func(m *cachedChunk) bool { return !m.mirror })
	}
}

// unmirrorOldest makes the oldest live mirror an ordinary chunk: forgotten
// if it has nothing to write back, else cached as the bytes it holds. It
// reports whether there was one.
func (c *chunkCache) unmirrorOldest() bool {
	for len(c.mirrors) > 0 {
		ch := c.mirrors[0]
		c.mirrors[0] = nil
		c.mirrors = c.mirrors[1:]
		if !ch.mirror {
			continue
		}
		c.endMirror(ch)
		if len(ch.dirty) == 0 {
			c.forget(ch)
		}
		return true
	}
	return false
}

// endMirror takes a live mirror off the mirror counts.
func (c *chunkCache) endMirror(ch *cachedChunk) {
	ch.mirror = false
	c.reserved -= int(ch.size)
	c.live--
}

// newChunk is an empty cached chunk at addr whose bytes start at base: a
// spare one if there is one.
func (c *chunkCache) newChunk(addr, base, size uint64) *cachedChunk {
	n := len(c.spare)
	if n == 0 {
		return &cachedChunk{addr: addr, base: base, size: size}
	}
	ch := c.spare[n-1]
	c.spare[n-1] = nil
	c.spare = c.spare[:n-1]
	ch.addr, ch.base, ch.size = addr, base, size
	return ch
}

// hold copies p to byte off of the chunk, growing buf to cover it, and
// returns the bytes buf grew by.
func (ch *cachedChunk) hold(off uint64, p []byte) int {
	n := len(ch.buf)
	if off < ch.base {
		buf := make([]byte, ch.base-off+uint64(n))
		copy(buf[ch.base-off:], ch.buf)
		ch.buf, ch.base = buf, off
	}
	if end, top := off+uint64(len(p)), ch.base+uint64(len(ch.buf)); end > top {
		// Appends grow buf at its end, amortised by append.
		ch.buf = append(ch.buf, make([]byte, end-top)...)
	}
	copy(ch.buf[off-ch.base:], p)
	return len(ch.buf) - n
}

// mark adds s to the written ranges, merging neighbours.
func (ch *cachedChunk) mark(s span) {
	d := ch.dirty
	// Appending in order is the common case.
	if n := len(d); n == 0 || d[n-1].hi < s.lo {
		ch.dirty = append(d, s)
		return
	}
	i := sort.Search(len(d), func(i int) bool { return d[i].hi >= s.lo })
	j := i
	for j < len(d) && d[j].lo <= s.hi {
		s.lo, s.hi = min(s.lo, d[j].lo), max(s.hi, d[j].hi)
		j++
	}
	ch.dirty = slices.Replace(d, i, j, s)
}

// overlay copies this rank's unwritten-back bytes of chunk addr over p,
// which holds the chunk's bytes [off, off+len(p)) as read from the file.
func (c *chunkCache) overlay(addr, off uint64, p []byte) {
	ch, ok := c.chunks[addr]
	if !ok {
		return
	}
	end := off + uint64(len(p))
	for _, s := range ch.dirty {
		lo, hi := max(s.lo, off), min(s.hi, end)
		if lo < hi {
			copy(p[lo-off:hi-off], ch.buf[lo-ch.base:hi-ch.base])
		}
	}
}

// drop forgets the cached chunk at addr, if any, without writing it.
func (c *chunkCache) drop(addr uint64) {
	ch, ok := c.chunks[addr]
	if !ok {
		return
	}
	if len(ch.dirty) > 0 {
		c.order = slices.DeleteFunc(c.order, func(o *cachedChunk) bool { return o == ch })
	}
	if ch.mirror {
		// Its entry in c.mirrors is skipped from now on, even once it is
		// reused as a spare: a spare never becomes a mirror.
		c.endMirror(ch)
	}
	c.forget(ch)
}

// settle writes back and forgets what the cache holds of the chunk at
// addr, if anything.
func (c *chunkCache) settle(raw vfs.File, addr uint64) error {
	if ch, ok := c.chunks[addr]; ok {
		if err := c.writeBack(raw, ch); err != nil {
			return err
		}
	}
	c.drop(addr)
	return nil
}

// makeRoom writes back the oldest chunks while the cache holds more than
// its limit (mirrors written back stay, clean), then stops mirroring the
// oldest chunks.
func (c *chunkCache) makeRoom(raw vfs.File) error {
	for c.bytes > c.limit {
		if len(c.order) == 0 {
			if !c.unmirrorOldest() {
				return nil
			}
			continue
		}
		ch := c.order[0]
		if err := c.writeBack(raw, ch); err != nil {
			return err
		}
		c.order[0] = nil
		c.order = c.order[1:]
		c.written(ch)
	}
	return nil
}

// writeBack writes the chunk's written ranges to the file, its space
// reserved first (preallocate).
func (c *chunkCache) writeBack(raw vfs.File, ch *cachedChunk) error {
	c.preallocate(ch.addr, ch.addr+ch.size)
	for _, s := range ch.dirty {
		if _, err := raw.WriteAt(ch.buf[s.lo-ch.base:s.hi-ch.base], int64(ch.addr+s.lo)); err != nil {
			return fmt.Errorf("write chunk at byte %d: %w", ch.addr, err)
		}
	}
	return nil
}

// written takes a chunk whose written ranges are in the file (and which
// the caller took off c.order): a mirror stays, clean; any other chunk is
// forgotten.
func (c *chunkCache) written(ch *cachedChunk) {
	if ch.mirror {
		ch.dirty = ch.dirty[:0]
		return
	}
	c.forget(ch)
}

// forget takes a chunk that is written back out of the cache (the order
// list is the caller's) and releases it.
func (c *chunkCache) forget(ch *cachedChunk) {
	delete(c.chunks, ch.addr)
	c.release(ch)
}

// release takes a chunk that is written back and no longer in the cache
// off the count of bytes held and keeps it as a spare.
func (c *chunkCache) release(ch *cachedChunk) {
	c.bytes -= len(ch.buf)
	ch.buf, ch.dirty = ch.buf[:0], ch.dirty[:0]
	if cap(ch.buf) > spareBuf {
		ch.buf = nil
	}
	c.spare = append(c.spare, ch)
}

// flush writes back every chunk, in address order, and empties the cache
// of all but its mirrors. Mirrors next to each other in the file go as
// runs (writeRun). Without mirrors it goes down the list and clears the
// map once at the end, rather than looking up and deleting each chunk: at
// 10,000 chunks a tick, lookups and deletes in a map far bigger than the
// CPU's caches took nearly a tenth of the write-back's time. If a write
// fails, the chunks before it are written back (and forgotten, or clean
// mirrors) and the rest stay.
func (c *chunkCache) flush(raw vfs.File) error {
	slices.SortFunc(c.order, func(a, b *cachedChunk) int { return cmp.Compare(a.addr, b.addr) })
	for i := 0; i < len(c.order); {
		n := c.runLen(c.order[i:])
		var err error
		if n > 1 {
			err = c.writeRun(raw, c.order[i:i+n])
		} else {
			err = c.writeBack(raw, c.order[i])
		}
		if err != nil {
			for _, w := range c.order[:i] {
				c.written(w)
			}
			c.order = slices.Delete(c.order, 0, i)
			return err
		}
		i += n
	}
	if c.live == 0 {
		for _, ch := range c.order {
			c.release(ch)
		}
		clear(c.chunks)
	} else {
		for _, ch := range c.order {
			c.written(ch)
		}
	}
	clear(c.order)
	c.order = c.order[:0]
	return nil
}

// runLen is how many chunks at the start of dirty (in address order) make
// one run: mirrors each starting where the one before ends, within runMax
// bytes from the first one's first written byte to the last one's end.
func (c *chunkCache) runLen(dirty []*cachedChunk) int {
	first := dirty[0]
	if !first.mirror {
		return 1
	}
	n := 1
	for end := first.addr + first.size; n < len(dirty); n++ {
		ch := dirty[n]
		if !ch.mirror || ch.addr != end || ch.addr+ch.size-(first.addr+first.dirty[0].lo) > runMax {
			break
		}
		end += ch.size
	}
	return n
}

// writeRun writes back a run of mirrors (runLen) in one write: from the
// first one's first written byte to the last one's last, the mirrors'
// bytes in between included - the file's own, or zero past a mirror's
// highest written byte, where only this writer's chunk lies.
func (c *chunkCache) writeRun(raw vfs.File, run []*cachedChunk) error {
	first, last := run[0], run[len(run)-1]
	lo := first.addr + first.dirty[0].lo
	hi := last.addr + last.dirty[len(last.dirty)-1].hi
	c.preallocate(first.addr, last.addr+last.size)
	if cap(c.run) < int(hi-lo) {
		c.run = make([]byte, runMax)
	}
	b := c.run[:hi-lo]
	for _, ch := range run {
		from, to := max(ch.addr, lo), min(ch.addr+ch.size, hi)
		held := max(from, min(to, ch.addr+uint64(len(ch.buf))))
		copy(b[from-lo:held-lo], ch.buf[from-ch.addr:held-ch.addr])
		clear(b[held-lo : to-lo])
	}
	if _, err := raw.WriteAt(b, int64(lo)); err != nil {
		return fmt.Errorf("write chunks at bytes %d-%d: %w", lo, hi, err)
	}
	return nil
}

// FlushRaw writes back every chunk this rank wrote. It changes no
// metadata: chunks got their space when the shape grew.
func (f *File) FlushRaw() error {
	if err := f.writable(); err != nil {
		return err
	}
	if err := f.cache.flush(f.raw); err != nil {
		return fmt.Errorf("flush raw data: %w", err)
	}
	return nil
}
