package collective

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"

	"github.com/vmihailenco/msgpack/v5"

	"pwstore/internal/storage/corrupt"
)

// Frozen: the wire version and the kinds; the layout is drawn in the package doc.
const (
	wireVersion  = 2
	wireElements = 10
)

// kind says what a message is. Every (collective, role) receives exactly one
// kind, so a message of another kind at the same sequence number means the
// ranks called different collectives.
type kind uint8

// Frozen: kind values.
const (
	kindHello       kind = 1  // rank -> rank 0: I listen (payload: size)
	kindWelcome     kind = 2  // rank 0 -> all: every rank listens
	kindArrive      kind = 3  // rank -> parent: my subtree entered the barrier
	kindRelease     kind = 4  // rank 0 -> all: everyone entered the barrier
	kindBcast       kind = 5  // root -> all: the data
	kindBcastAck    kind = 6  // rank -> parent: my subtree has the data
	kindGather      kind = 7  // rank -> parent: my subtree's data (records)
	kindGatherDone  kind = 8  // root -> all: I have every rank's data
	kindAllgather   kind = 9  // rank -> parent: my subtree's data (records)
	kindAllreduce   kind = 10 // rank -> parent: my subtree's values, reduced
	kindAbort       kind = 11 // rank -> all: the communicator is broken (payload: reason)
	kindAllgathered kind = 12 // rank 0 -> all: every rank's data (records)
	kindReduced     kind = 13 // rank 0 -> all: the reduced values
	kindDecide      kind = 14 // rank -> parent: my subtree's values, reduced
	kindDecision    kind = 15 // rank 0 -> all: its decision
	kindLast             = kindDecision
)

// op names the collective a kind belongs to, for error messages.
func (k kind) op() string {
	switch k {
	case kindHello, kindWelcome:
		return "startup handshake"
	case kindArrive, kindRelease:
		return "barrier"
	case kindBcast, kindBcastAck:
		return "bcast"
	case kindGather, kindGatherDone:
		return "gather"
	case kindAllgather, kindAllgathered:
		return "allgather"
	case kindAllreduce, kindReduced:
		return "allreduce"
	case kindDecide, kindDecision:
		return "decide"
	case kindAbort:
		return "abort"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// ErrWire marks bytes that are not a message of this protocol.
var ErrWire = errors.New("collective: bad message")

// message is one NATS message. Once decoded, Job, Comm and Payload alias
// the bytes decoded.
type message struct {
	Job     []byte
	Comm    []byte
	Kind    kind
	Seq     uint64
	From    int
	Nonce   uint64 // the sender process's random identity
	Chunk   uint32
	Chunks  uint32
	Payload []byte
}

// headerRoom bounds the encoded size of everything but the payload bytes.
func headerRoom(job, comm string) int {
	// array header, version, 2 str headers, kind, seq, from, nonce, chunk,
	// chunks, bin header: generously 80 bytes.
	return 80 + len(job) + len(comm)
}

// encodeMessage writes m's encoding into buf (reset), through enc.
func encodeMessage(buf *bytes.Buffer, enc *msgpack.Encoder, m *message) error {
	buf.Reset()
	enc.Reset(buf)
	var err error
	try := func(e error) {
		if err == nil {
			err = e
		}
	}
	try(enc.EncodeArrayLen(wireElements))
	try(enc.EncodeUint(wireVersion))
	try(encodeName(buf, m.Job))
	try(encodeName(buf, m.Comm))
	try(enc.EncodeUint(uint64(m.Kind)))
	try(enc.EncodeUint(m.Seq))
	try(enc.EncodeUint(uint64(m.From)))
	try(enc.EncodeUint(m.Nonce))
	try(enc.EncodeUint(uint64(m.Chunk)))
	try(enc.EncodeUint(uint64(m.Chunks)))
	try(enc.EncodeBytesLen(len(m.Payload)))
	if err != nil {
		return fmt.Errorf("collective: encode: %w", err)
	}
	buf.Write(m.Payload)
	return nil
}

// decoderState is a reusable decoder over a reusable reader: decoding a
// message then allocates nothing.
type decoderState struct {
	r   bytes.Reader
	dec *msgpack.Decoder
}

var decoders = sync.Pool{New: func() any {
	s := &decoderState{}
	s.dec = msgpack.NewDecoder(&s.r)
	return s
}}

// decodeMessage decodes data into m; m's Job, Comm and Payload alias data.
// Bad bytes give an error wrapping ErrWire and corrupt.Err.
func decodeMessage(data []byte, m *message) error {
	s := decoders.Get().(*decoderState)
	defer decoders.Put(s)
	s.r.Reset(data)
	s.dec.Reset(&s.r)
	dec, r := s.dec, &s.r
	bad := func(what string, err error) error {
		if err != nil {
			return corrupt.Errorf("%w: %s: %v", ErrWire, what, err)
		}
		return corrupt.Errorf("%w: %s", ErrWire, what)
	}
	n, err := dec.DecodeArrayLen()
	if err != nil || n != wireElements {
		return bad(fmt.Sprintf("not a %d-element array (%d)", wireElements, n), err)
	}
	v, err := dec.DecodeUint64()
	if err != nil || v != wireVersion {
		return bad(fmt.Sprintf("wire version %d, want %d", v, wireVersion), err)
	}
	if m.Job, err = decodeName(dec, data, r); err != nil {
		return bad("job", err)
	}
	if m.Comm, err = decodeName(dec, data, r); err != nil {
		return bad("comm", err)
	}
	k, err := dec.DecodeUint64()
	if err != nil || k == 0 || k > uint64(kindLast) {
		return bad(fmt.Sprintf("kind %d", k), err)
	}
	m.Kind = kind(k)
	if m.Seq, err = dec.DecodeUint64(); err != nil {
		return bad("seq", err)
	}
	from, err := dec.DecodeUint64()
	if err != nil || from > math.MaxInt32 {
		return bad(fmt.Sprintf("sender %d", from), err)
	}
	m.From = int(from)
	if m.Nonce, err = dec.DecodeUint64(); err != nil {
		return bad("nonce", err)
	}
	chunk, err := dec.DecodeUint64()
	if err != nil {
		return bad("chunk", err)
	}
	chunks, err := dec.DecodeUint64()
	if err != nil || chunks == 0 || chunks > math.MaxUint32 || chunk >= chunks {
		return bad(fmt.Sprintf("chunk %d of %d", chunk, chunks), err)
	}
	m.Chunk, m.Chunks = uint32(chunk), uint32(chunks)
	size, err := dec.DecodeBytesLen()
	if err != nil || size < 0 || size != r.Len() {
		return bad(fmt.Sprintf("payload of %d bytes with %d left", size, r.Len()), err)
	}
	m.Payload = data[len(data)-size:]
	return nil
}

// maxName bounds job and communicator names.
const maxName = 128

// encodeName writes b as a msgpack str (fixstr or str8: names are short)
// straight from the bytes, which the encoder would first copy to a string.
func encodeName(buf *bytes.Buffer, b []byte) error {
	switch {
	case len(b) > maxName:
		return fmt.Errorf("name of %d bytes (max %d)", len(b), maxName)
	case len(b) < 32:
		buf.WriteByte(0xa0 | byte(len(b))) // fixstr
	default:
		buf.WriteByte(0xd9) // str8
		buf.WriteByte(byte(len(b)))
	}
	buf.Write(b)
	return nil
}

// decodeName decodes a string of at most maxName bytes, without trusting
// its length prefix, as a slice of data (r reads data).
func decodeName(dec *msgpack.Decoder, data []byte, r *bytes.Reader) ([]byte, error) {
	n, err := dec.DecodeBytesLen()
	if err != nil {
		return nil, err
	}
	if n < 0 || n > maxName || n > r.Len() {
		return nil, fmt.Errorf("length %d (max %d, %d bytes left)", n, maxName, r.Len())
	}
	off := len(data) - r.Len()
	if _, err := r.Seek(int64(n), io.SeekCurrent); err != nil {
		return nil, err
	}
	return data[off : off+n], nil
}
