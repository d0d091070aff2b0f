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
//	u32        h, the length of the head (little-endian)
//	h bytes    the head: msgpack of adoptHead (all but the lists, and their lengths)
//	48 bytes   per entry of Entries, Added, Changed, in that order: page,
//	           offset, length, stored, tail, checksum, little-endian u64s
//	8 bytes    per page of Removed, little-endian u64
//
// The lists travel packed, outside msgpack (whose reflection over a struct
// per entry cost every reader rank half a millisecond per thousand
// entries), so a rank decodes them straight from the received bytes into
// lists it keeps from tick to tick.
type adoptHead struct {
	Base                             uint64
	Header                           mdfile.Header
	Full                             bool
	Entries, Added, Changed, Removed uint32 // list lengths
	Err                              string
	Code                             uint64
}

const (
	headLen   = 4
	entrySize = 48
)

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
	n := headLen + len(head) + (len(m.Entries)+len(m.Added)+len(m.Changed))*entrySize + len(m.Removed)*8
	b = slices.Grow(b[:0], n)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(head)))
	b = append(b, head...)
	for _, l := range [][]mdfile.Entry{m.Entries, m.Added, m.Changed} {
		for _, e := range l {
			b = binary.LittleEndian.AppendUint64(b, e.Page)
			b = binary.LittleEndian.AppendUint64(b, e.Offset)
			b = binary.LittleEndian.AppendUint64(b, e.Length)
			b = binary.LittleEndian.AppendUint64(b, e.Stored)
			b = binary.LittleEndian.AppendUint64(b, e.Tail)
			b = binary.LittleEndian.AppendUint64(b, e.Checksum)
		}
	}
	for _, p := range m.Removed {
		b = binary.LittleEndian.AppendUint64(b, p)
	}
	return b, nil
}

// decode sets m from b, reusing the room of m's lists. Bad bytes are an
// error, never a panic or an allocation beyond b's size.
func (m *adoptMsg) decode(b []byte) error {
	if len(b) < headLen {
		return fmt.Errorf("index message of %d bytes", len(b))
	}
	h := uint64(binary.LittleEndian.Uint32(b))
	if h > uint64(len(b)-headLen) {
		return fmt.Errorf("index message head of %d bytes in %d", h, len(b))
	}
	var head adoptHead
	if err := unmarshal(b[headLen:headLen+h], &head); err != nil {
		return fmt.Errorf("index message head: %w", err)
	}
	rest := b[headLen+h:]
	entries := uint64(head.Entries) + uint64(head.Added) + uint64(head.Changed)
	if want := entries*entrySize + uint64(head.Removed)*8; want != uint64(len(rest)) {
		return fmt.Errorf("index message: %d entries and %d removed pages in %d bytes", entries, head.Removed, len(rest))
	}
	list := func(l []mdfile.Entry, n uint32) []mdfile.Entry {
		l = slices.Grow(l[:0], int(n))[:n]
		for i := range l {
			e := rest[i*entrySize : (i+1)*entrySize]
			l[i] = mdfile.Entry{
				Page:     binary.LittleEndian.Uint64(e),
				Offset:   binary.LittleEndian.Uint64(e[8:]),
				Length:   binary.LittleEndian.Uint64(e[16:]),
				Stored:   binary.LittleEndian.Uint64(e[24:]),
				Tail:     binary.LittleEndian.Uint64(e[32:]),
				Checksum: binary.LittleEndian.Uint64(e[40:]),
			}
		}
		rest = rest[int(n)*entrySize:]
		return l
	}
	*m = adoptMsg{Base: head.Base, Header: head.Header, Full: head.Full, Err: head.Err, Code: head.Code,
		Entries: list(m.Entries, head.Entries), Added: list(m.Added, head.Added), Changed: list(m.Changed, head.Changed),
		Removed: slices.Grow(m.Removed[:0], int(head.Removed))[:head.Removed]}
	for i := range m.Removed {
		m.Removed[i] = binary.LittleEndian.Uint64(rest[8*i:])
	}
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
	var m adoptMsg
	var loadErr, encErr error
	got, err := comm.Decide(ctx, collective.Min, []int64{held, ^held}, func(red []int64) []byte {
		full := forceFull || red[0] != held || ^red[1] != held
		if m, loadErr = r.load(full); loadErr != nil {
			m = adoptMsg{Err: loadErr.Error(), Code: errCode(loadErr)}
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
	if r.size == 1 {
		m, err := r.load(true)
		if err != nil {
			return TickInfo{Tick: r.idx.tick()}, public(err)
		}
		info, err := r.adopt(m)
		return info, public(err)
	}
	info, err := r.collectiveTick(ctx, true)
	return info, public(err)
}

// IndexDigest is a checksum of the adopted tick and index: equal on every
// rank after every Tick.
func (r *Reader) IndexDigest() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.idx.digest()
}

// VerifyIndex checks, on reader rank 0 (or a one-rank reader), that the
// index it built from deltas equals the snapshot's own full index. Other
// ranks have nothing to compare with and return nil.
func (r *Reader) VerifyIndex() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.snap == nil || r.rank != 0 || r.ended {
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
