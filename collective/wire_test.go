package collective

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"pwstore/internal/storage/corrupt"
)

func TestMessageRoundTrip(t *testing.T) {
	for _, m := range []message{
		{Job: []byte("j"), Comm: []byte("world"), Kind: kindBcast, Seq: 1 << 40, From: 15, Nonce: 1<<63 + 5, Chunk: 2, Chunks: 3, Payload: bytes.Repeat([]byte{7}, 70000)},
		{Job: bytes.Repeat([]byte("x"), maxName), Comm: []byte("c"), Kind: kindAbort, Seq: 0, From: 0, Chunk: 0, Chunks: 1, Payload: []byte{}},
	} {
		b := encode(t, &m)
		var got message
		if err := decodeMessage(b, &got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Job, m.Job) || !bytes.Equal(got.Comm, m.Comm) || got.Kind != m.Kind || got.Seq != m.Seq || got.From != m.From || got.Nonce != m.Nonce ||
			got.Chunk != m.Chunk || got.Chunks != m.Chunks || !bytes.Equal(got.Payload, m.Payload) {
			t.Fatalf("round trip: got %+v, want %+v", got, m)
		}
	}
}

func TestMessageDecodeErrors(t *testing.T) {
	good := encode(t, &message{Job: []byte("j"), Comm: []byte("c"), Kind: kindGather, Seq: 3, From: 1, Chunks: 1, Payload: []byte("abc")})
	mutate := func(f func(m *message)) []byte {
		m := message{Job: []byte("j"), Comm: []byte("c"), Kind: kindGather, Seq: 3, From: 1, Chunks: 1, Payload: []byte("abc")}
		f(&m)
		return encode(t, &m)
	}
	for name, b := range map[string][]byte{
		"empty":          nil,
		"truncated":      good[:len(good)-1],
		"trailing":       append(bytes.Clone(good), 0),
		"not an array":   {0xc0},
		"kind 0":         mutate(func(m *message) { m.Kind = 0 }),
		"kind too big":   mutate(func(m *message) { m.Kind = kindLast + 1 }),
		"chunk >= count": mutate(func(m *message) { m.Chunk = 1 }),
		"zero chunks":    mutate(func(m *message) { m.Chunks = 0 }),
		"long job":       append([]byte{0x9a, 0x02, 0xd9, maxName + 1}, bytes.Repeat([]byte("j"), maxName+1)...),
		"version":        append([]byte{0x9a, 0x01}, good[2:]...),
		"old layout":     {0x99, 0x01, 0xa1, 'j', 0xa1, 'c', 0x05, 0x01, 0x00, 0x00, 0x01, 0xc4, 0x01, 'x'},
	} {
		var m message
		err := decodeMessage(b, &m)
		if !errors.Is(err, corrupt.Err) || !errors.Is(err, ErrWire) {
			t.Errorf("%s: %v, want corrupt.Err and ErrWire", name, err)
		}
	}
}

func FuzzDecodeMessage(f *testing.F) {
	f.Add([]byte{0x9a, 0x02, 0xa1, 'j', 0xa1, 'c', 0x05, 0x01, 0x00, 0x07, 0x00, 0x01, 0xc4, 0x01, 'x'})
	f.Fuzz(func(t *testing.T, b []byte) {
		var m message
		err := decodeMessage(b, &m)
		if err != nil {
			if !errors.Is(err, corrupt.Err) {
				t.Fatalf("error without corrupt.Err: %v", err)
			}
			return
		}
		// What decodes must encode back to the same message.
		again := encode(t, &m)
		var m2 message
		if err := decodeMessage(again, &m2); err != nil {
			t.Fatalf("re-encoded message does not decode: %v", err)
		}
		if !bytes.Equal(m2.Job, m.Job) || m2.Seq != m.Seq || m2.Kind != m.Kind || !bytes.Equal(m2.Payload, m.Payload) {
			t.Fatalf("re-encoding changed the message: %+v vs %+v", m, m2)
		}
	})
}

// FuzzUnpackRecords: the records a gather or allgather carries up the tree
// (rank, length, bytes) decode to every rank's data once each, or fail
// with ErrProtocol; never a panic.
func FuzzUnpackRecords(f *testing.F) {
	c := newComm(0, 3, "j", "c", 0, time.Second, nil)
	good := binary.AppendUvarint(nil, 2)
	good = binary.AppendUvarint(good, 1)
	good = append(good, 'x', 0, 0, 1, 1, 'a') // ranks 2, 0, 1
	f.Add(good)
	f.Add([]byte{0, 200, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := c.unpack(b, 1)
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("error without ErrProtocol: %v", err)
			}
			return
		}
		if len(out) != 3 {
			t.Fatalf("%d ranks' data, want 3", len(out))
		}
		n := 0
		for _, d := range out {
			n += len(d)
		}
		if n > len(b) {
			t.Fatalf("%d bytes of data from %d bytes of records", n, len(b))
		}
	})
}
