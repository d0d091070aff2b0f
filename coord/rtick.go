package coord

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/vmihailenco/msgpack/v5"

	"pwstore/collective"
	"pwstore/mdfile"
)

// adoptMsg is what reader rank 0 sends the other reader ranks at a tick
// (and at open): the new header and either the delta from the tick they
// hold (Base) or, when a rank is not at Base (it just joined or fell
// behind), the full index.
type adoptMsg struct {
	Base    uint64
	Header  mdfile.Header
	Full    bool
	Entries []mdfile.Entry // Full
	Added   []mdfile.Entry // delta
	Changed []mdfile.Entry
	Removed []uint64
	Err     string // rank 0 failed: every rank fails with this
	Code    uint64 // the sentinels the failure wraps (errCode)
}

// The message's bytes (between the ranks of one job, so of one build):
//
//	u8         adoptVersion
//	u32        h, the length of the head (little-endian)
//	h bytes    the head: msgpack of adoptHead (all but the lists, and their lengths)
//	entries    of Entries, Added, Changed, in that order, each as
//	             uvarint  zigzag(page - previous page)
//	             uvarint  zigzag(offset - (previous offset + previous stored))
//	             uvarint  zigzag(length - previous length)
//	             uvarint  stored
//	             uvarint  tail
//	             u64      checksum (little-endian)
//	pages      of Removed, each a uvarint zigzag(page - previous page)
//
// where "previous" is the entry (page) before in the same list, zero for
// the first, and differences wrap around 2^64. The lists travel outside
// msgpack (whose reflection over a struct per entry cost every reader rank
// half a millisecond per thousand entries), so a rank decodes them straight
// from the received bytes into lists it keeps from tick to tick; and
// compactly: a delta's entries are sorted by page and their images lie
// one after another in the metadata file, so an entry takes 13 bytes
// rather than 48, and a 1,000-entry delta fits one read of the NATS
// client's 32 KiB buffer.
type adoptHead struct {
	Base                             uint64
	Header                           mdfile.Header
	Full                             bool
	Entries, Added, Changed, Removed uint32 // list lengths
	Err                              string
	Code                             uint64
}

const (
	adoptVersion = 1
	adoptPrefix  = 5  // version and head length
	minEntry     = 13 // bytes of the shortest entry
)

// zigzag maps a difference that wrapped around 2^64 to a small number if
// it is small either way; unzig undoes it.
func zigzag(d uint64) uint64 { return d<<1 ^ uint64(int64(d)>>63) }
func unzig(z uint64) uint64  { return z>>1 ^ -(z & 1) }

// encode appends m's bytes to b[:0].
func (m *adoptMsg) encode(b []byte) ([]byte, error) {
	for _, n := range []int{len(m.Entries), len(m.Added), len(m.Changed), len(m.Removed)} {
		if uint64(n) > math.MaxUint32 {
			return nil, fmt.Errorf("index list of %d entries", n)
		}
	}
	head, err := msgpack.Marshal(adoptHead{Base: m.Base, Header: m.Header, Full: m.Full,
		Entries: uint32(len(m.Entries)), Added: uint32(len(m.Added)), Changed: uint32(len(m.Changed)),
		Removed: uint32(len(m.Removed)), Err: m.Err, Code: m.Code})
	if err != nil {
		return nil, err
	}
	n := adoptPrefix + len(head) + (len(m.Entries)+len(m.Added)+len(m.Changed))*(minEntry+2) + len(m.Removed)*2
	b = slices.Grow(b[:0], n)
	b = append(b, adoptVersion)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(head)))
	b = append(b, head...)
	for _, l := range [][]mdfile.Entry{m.Entries, m.Added, m.Changed} {
		var prev mdfile.Entry
		for _, e := range l {
			b = binary.AppendUvarint(b, zigzag(e.Page-prev.Page))
			b = binary.AppendUvarint(b, zigzag(e.Offset-(prev.Offset+prev.Stored)))
			b = binary.AppendUvarint(b, zigzag(e.Length-prev.Length))
			b = binary.AppendUvarint(b, e.Stored)
			b = binary.AppendUvarint(b, e.Tail)
			b = binary.LittleEndian.AppendUint64(b, e.Checksum)
			prev = e
		}
	}
	var prev uint64
	for _, p := range m.Removed {
		b = binary.AppendUvarint(b, zigzag(p-prev))
		prev = p
	}
	return b, nil
}

// decodeEntries fills l from the start of b and returns the bytes after
// them, or ok false if b runs out or holds a bad varint. An entry whose
// five varints are one byte each (most are) is read in one step. It writes
// each entry's fields in place: an entry built whole and then copied went
// through the stack in 8-byte stores read back as 16-byte loads, which the
// CPU cannot forward.
func decodeEntries(l []mdfile.Entry, b []byte) (rest []byte, ok bool) {
	var page, end, length uint64 // of the entry before: its page, offset+stored, length
	var v [5]uint64
	i := 0
	for k := range l {
		if len(b)-i >= minEntry && (b[i]|b[i+1]|b[i+2]|b[i+3]|b[i+4]) < 0x80 {
			v = [5]uint64{uint64(b[i]), uint64(b[i+1]), uint64(b[i+2]), uint64(b[i+3]), uint64(b[i+4])}
			i += 5
		} else {
			for f := range v {
				x, n := binary.Uvarint(b[i:])
				if n <= 0 {
					return nil, false
				}
				v[f] = x
				i += n
			}
			if len(b)-i < 8 {
				return nil, false
			}
		}
		e := &l[k]
		page += unzig(v[0])
		length += unzig(v[2])
		e.Page, e.Offset, e.Length, e.Stored, e.Tail = page, end+unzig(v[1]), length, v[3], v[4]
		e.Checksum = binary.LittleEndian.Uint64(b[i:])
		end = e.Offset + e.Stored
		i += 8
	}
	return b[i:], true
}

// decode sets m from b, reusing the room of m's lists. Bad bytes are an
// error, never a panic or an allocation beyond what b's size allows.
func (m *adoptMsg) decode(b []byte) error {
	if len(b) < adoptPrefix || b[0] != adoptVersion {
		return fmt.Errorf("index message of %d bytes, not of version %d", len(b), adoptVersion)
	}
	h := uint64(binary.LittleEndian.Uint32(b[1:]))
	if h > uint64(len(b)-adoptPrefix) {
		return fmt.Errorf("index message head of %d bytes in %d", h, len(b))
	}
	var head adoptHead
	if err := unmarshal(b[adoptPrefix:adoptPrefix+h], &head); err != nil {
		return fmt.Errorf("index message head: %w", err)
	}
	rest := b[adoptPrefix+h:]
	entries := uint64(head.Entries) + uint64(head.Added) + uint64(head.Changed)
	if entries*minEntry+uint64(head.Removed) > uint64(len(rest)) {
		return fmt.Errorf("index message: %d entries and %d removed pages in %d bytes", entries, head.Removed, len(rest))
	}
	bad := func() error {
		return fmt.Errorf("index message: lists of %d entries and %d removed pages do not fill its %d bytes", entries, head.Removed, len(b))
	}
	lists := [3][]mdfile.Entry{m.Entries, m.Added, m.Changed}
	for i, n := range [3]uint32{head.Entries, head.Added, head.Changed} {
		var ok bool
		lists[i] = slices.Grow(lists[i][:0], int(n))[:n]
		if rest, ok = decodeEntries(lists[i], rest); !ok {
			return bad()
		}
	}
	removed := slices.Grow(m.Removed[:0], int(head.Removed))[:head.Removed]
	var prev uint64
	for i := range removed {
		z, n := binary.Uvarint(rest)
		if n <= 0 {
			return bad()
		}
		prev += unzig(z)
		removed[i], rest = prev, rest[n:]
	}
	if len(rest) > 0 {
		return bad()
	}
	*m = adoptMsg{Base: head.Base, Header: head.Header, Full: head.Full, Err: head.Err, Code: head.Code,
		Entries: lists[0], Added: lists[1], Changed: lists[2], Removed: removed}
	return nil
}

// fullMsg describes the adopted index in full.
func (r *Reader) fullMsg() adoptMsg {
	return adoptMsg{Base: r.idx.tick(), Header: r.idx.header, Full: true, Entries: r.idx.sorted()}
}

// collectiveTick: every rank says which tick it holds (a min and max up
// the communicator's tree); rank 0 loads the newest snapshot and publishes
// the delta, or the full index if any rank is not where rank 0 was (or
// forceFull); every rank adopts it. One Decide: 2(N-1) messages.
func (r *Reader) collectiveTick(ctx context.Context, forceFull bool) (TickInfo, error) {
	comm := r.cfg.Comm
	held := int64(r.idx.tick())
	// Rank 0 loads the snapshot, diffs it and encodes the delta while the
	// other ranks' ticks come up the tree, and after they are all in
	// checks that the writer published nothing newer since (one read of
	// the header slots), so the tick is still the newest at a moment when
	// every rank had called Tick; the ranks wait for what it does after
	// that.
	var pre *preload
	if r.rank == 0 && !r.ended() && r.md != nil {
		if snap, err := r.md.Load(); err == nil { // an error comes again from the load below
			pre = &preload{snap: snap}
			if !forceFull && snap.Tick() != r.snap.Tick() {
				pre.delta, pre.diffed = mdfile.Diff(r.snap, snap), true
				msg := adoptMsg{Base: r.snap.Tick(), Header: snap.Header, Added: pre.delta.Added,
					Changed: pre.delta.Changed, Removed: pre.delta.Removed}
				if b, err := msg.encode(r.tx); err == nil { // else it fails again below
					pre.enc, r.tx = b, b
				}
			}
		}
	}
	var m adoptMsg
	var loadErr, encErr error
	got, err := comm.Decide(ctx, collective.Min, []int64{held, ^held}, func(red []int64) []byte {
		full := forceFull || red[0] != held || ^red[1] != held
		if m, loadErr = r.load(full, pre); loadErr != nil {
			m = adoptMsg{Err: loadErr.Error(), Code: errCode(loadErr)}
		} else if pre != nil && pre.used && pre.enc != nil {
			return pre.enc // m is the message encoded early
		}
		b, err := m.encode(r.tx)
		if err != nil {
			encErr = err
			m = adoptMsg{Err: fmt.Sprintf("encode the tick: %v", err)}
			b, _ = m.encode(r.tx) // a string always encodes
		}
		r.tx = b
		return b
	})
	if err == nil && r.rank != 0 {
		if err = r.rx.decode(got); err != nil {
			err = fmt.Errorf("decode rank 0's tick: %w", err)
		}
		m = r.rx
	}
	switch {
	case err != nil:
		return TickInfo{Tick: r.idx.tick()}, fmt.Errorf("%s: reader tick: %w", r.path, err)
	case loadErr != nil:
		return TickInfo{Tick: r.idx.tick()}, loadErr
	case encErr != nil:
		return TickInfo{Tick: r.idx.tick()}, fmt.Errorf("%s: reader tick: %w", r.path, encErr)
	case m.Err != "":
		return TickInfo{Tick: r.idx.tick()}, remoteError(fmt.Sprintf("%s: reader rank 0: %s", r.path, m.Err), m.Code)
	}
	return r.adopt(m)
}

// TickFull is Tick with the full index sent to every rank instead of a
// delta: a check that both paths agree (IndexDigest), and a way to resync.
func (r *Reader) TickFull() (TickInfo, error) { return r.TickFullContext(context.Background()) }

// TickFullContext is TickFull whose wait for the other reader ranks ends
// when ctx is done.
func (r *Reader) TickFullContext(ctx context.Context) (TickInfo, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return TickInfo{}, fmt.Errorf("%s: reader: %w", r.path, ErrClosed)
	}
	defer func() { r.listen.ticked(r.idx.tick()) }()
	if r.size == 1 {
		m, err := r.load(true, nil)
		if err != nil {
			return TickInfo{Tick: r.idx.tick()}, public(err)
		}
		return r.report(r.adopt(m))
	}
	return r.report(r.collectiveTick(ctx, true))
}

// IndexDigest returns the tick of the index this rank holds and a checksum
// of both. After a Tick it is equal on every rank that holds the tick the
// Tick reported; a rank that moved to the final tick alone during the Tick
// (catchUp) holds the final index until the next Tick, the same on every
// rank that did.
func (r *Reader) IndexDigest() (tick, digest uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.idx.tick(), r.idx.digest()
}

// VerifyIndex checks, on reader rank 0 (or a one-rank reader), that the
// index it built from deltas equals the snapshot's own full index. Other
// ranks have nothing to compare with and return nil.
func (r *Reader) VerifyIndex() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.snap == nil || r.rank != 0 || r.ended() {
		return nil
	}
	full := newIndex()
	full.reset(r.snap.Header, r.snap.Entries())
	if got, want := r.idx.digest(), full.digest(); got != want {
		return fmt.Errorf("%s: tick %d: index built from deltas (%d entries) differs from the full index (%d entries)",
			r.path, r.idx.tick(), r.idx.len(), full.len())
	}
	return nil
}

// bcastAdopt sends rank 0's m to every rank.
func bcastAdopt(ctx context.Context, c collective.Comm, m adoptMsg) (adoptMsg, error) {
	var b []byte
	if c.Rank() == 0 {
		var err error
		if b, err = m.encode(nil); err != nil {
			return adoptMsg{}, fmt.Errorf("encode: %w", err)
		}
	}
	got, err := c.Bcast(ctx, 0, b)
	if err != nil {
		return adoptMsg{}, err
	}
	if c.Rank() == 0 {
		return m, nil
	}
	var out adoptMsg
	if err := out.decode(got); err != nil {
		return adoptMsg{}, fmt.Errorf("decode broadcast from rank 0: %w", err)
	}
	return out, nil
}
