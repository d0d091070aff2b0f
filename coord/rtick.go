package coord

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"

	"pwstore/collective"
	"pwstore/mdfile"
)

// adoptMsg is what reader rank 0 sends the other reader ranks at a tick:
// the new header and either the delta from the tick they hold (Base) or,
// when a rank is not at Base (it just joined or fell behind), the full index.
type adoptMsg struct {
	Base    uint64
	Header  mdfile.Header
	Full    bool
	Entries entries // Full
	Added   entries // delta
	Changed entries
	Removed []uint64
	Err     string // rank 0 failed: every rank fails with this
	Code    uint64 // the sentinels the failure wraps (errCode)
}

// entries travel packed, 48 little-endian bytes each (page, metadata-file
// offset, length, stored length, stored tail, checksum): msgpack's reflection over a
// struct per entry costs every reader rank half a millisecond per thousand
// entries.
type entries []mdfile.Entry

const entrySize = 48

var _ msgpack.CustomEncoder = entries(nil)

// EncodeMsgpack writes the entries as one byte string.
func (es entries) EncodeMsgpack(enc *msgpack.Encoder) error {
	b := make([]byte, 0, len(es)*entrySize)
	for _, e := range es {
		b = binary.LittleEndian.AppendUint64(b, e.Page)
		b = binary.LittleEndian.AppendUint64(b, e.Offset)
		b = binary.LittleEndian.AppendUint64(b, e.Length)
		b = binary.LittleEndian.AppendUint64(b, e.Stored)
		b = binary.LittleEndian.AppendUint64(b, e.Tail)
		b = binary.LittleEndian.AppendUint64(b, e.Checksum)
	}
	return enc.EncodeBytes(b)
}

// DecodeMsgpack reads entries written by EncodeMsgpack.
func (es *entries) DecodeMsgpack(dec *msgpack.Decoder) error {
	b, err := dec.DecodeBytes()
	if err != nil {
		return err
	}
	if len(b)%entrySize != 0 {
		return fmt.Errorf("index entries: %d bytes is not a whole number of %d-byte entries", len(b), entrySize)
	}
	out := make([]mdfile.Entry, len(b)/entrySize)
	for i := range out {
		e := b[i*entrySize:]
		out[i] = mdfile.Entry{
			Page:     binary.LittleEndian.Uint64(e),
			Offset:   binary.LittleEndian.Uint64(e[8:]),
			Length:   binary.LittleEndian.Uint64(e[16:]),
			Stored:   binary.LittleEndian.Uint64(e[24:]),
			Tail:     binary.LittleEndian.Uint64(e[32:]),
			Checksum: binary.LittleEndian.Uint64(e[40:]),
		}
	}
	*es = out
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
		b, err := msgpack.Marshal(m)
		if err != nil {
			encErr = err
			m = adoptMsg{Err: fmt.Sprintf("encode the tick: %v", err)}
			b, _ = msgpack.Marshal(m) // a string always encodes
		}
		return b
	})
	if err == nil && r.rank != 0 {
		if err = unmarshal(got, &m); err != nil {
			err = fmt.Errorf("decode rank 0's tick: %w", err)
		}
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
