package coord

import (
	"encoding/binary"
	"math"
	"reflect"
	"testing"

	"pwstore/mdfile"
)

func TestAdoptMsgRoundTrip(t *testing.T) {
	m := adoptMsg{
		Base: 7, Header: mdfile.Header{Tick: 9, PageSize: 4096, Status: mdfile.StatusOpen},
		Added:   []mdfile.Entry{{Page: 1 << 40, Offset: 3 << 12, Length: 8192, Stored: 5000, Tail: 8, Checksum: 0xdeadbeefcafef00d}},
		Changed: []mdfile.Entry{{Page: 2, Offset: 5 << 5, Length: 4096, Stored: 139, Checksum: 1}, {Page: 9, Offset: 6 << 5, Length: 4096, Checksum: 2}},
		Removed: []uint64{4, 5},
	}
	b, err := m.encode(nil)
	if err != nil {
		t.Fatal(err)
	}
	var got adoptMsg
	if err := got.decode(b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Added, m.Added) || !reflect.DeepEqual(got.Changed, m.Changed) ||
		!reflect.DeepEqual(got.Removed, m.Removed) || got.Header.Tick != 9 || got.Base != 7 || len(got.Entries) != 0 {
		t.Fatalf("round trip changed the message:\n%+v\n%+v", m, got)
	}
	// The lists' room is reused; a shorter message leaves nothing behind.
	// Differences wrap around 2^64 both ways.
	top := uint64(math.MaxUint64)
	full := adoptMsg{Base: 9, Header: m.Header, Full: true, Err: "x", Code: 3, Entries: []mdfile.Entry{
		{Page: top, Offset: top, Length: top, Stored: top, Tail: top, Checksum: top}, {Page: 0, Offset: 1, Length: 1}, m.Changed[1]}}
	b, err = full.encode(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := got.decode(b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Entries, full.Entries) || len(got.Added)+len(got.Changed)+len(got.Removed) != 0 ||
		!got.Full || got.Err != "x" || got.Code != 3 {
		t.Fatalf("second message decoded as %+v, sent %+v", got, full)
	}
	// Bytes that do not add up are an error.
	for _, bad := range [][]byte{nil, {1, 0}, b[:len(b)-1], append(b[:len(b):len(b)], 0), binary.LittleEndian.AppendUint32(nil, 1<<31)} {
		if err := got.decode(bad); err == nil {
			t.Fatalf("%d bad bytes decoded", len(bad))
		}
	}
}

// FuzzAdoptMsg: whatever bytes arrive as a reader tick message, decoding
// fails cleanly (never panics) or gives a message that encodes to bytes
// that decode to it again.
func FuzzAdoptMsg(f *testing.F) {
	seed, _ := (&adoptMsg{Base: 1, Added: []mdfile.Entry{{Page: 1, Offset: 2048, Length: 4096, Stored: 7, Checksum: 3}}, Removed: []uint64{2}}).encode(nil)
	f.Add(seed)
	f.Fuzz(func(t *testing.T, b []byte) {
		var m adoptMsg
		if m.decode(b) != nil {
			return
		}
		again, err := m.encode(nil)
		if err != nil {
			t.Fatalf("decoded message does not encode: %v", err)
		}
		var m2 adoptMsg
		if err := m2.decode(again); err != nil || !reflect.DeepEqual(m.Header, m2.Header) || len(m.Added) != len(m2.Added) ||
			len(m.Removed) != len(m2.Removed) || len(m.Entries) != len(m2.Entries) || m.Err != m2.Err {
			t.Fatalf("re-encoded message decodes as %+v (%v), was %+v", m2, err, m)
		}
	})
}
