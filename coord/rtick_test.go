package coord

import (
	"reflect"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"pwstore/mdfile"
)

func TestAdoptMsgRoundTrip(t *testing.T) {
	m := adoptMsg{
		Base: 7, Header: mdfile.Header{Tick: 9, PageSize: 4096, Status: mdfile.StatusOpen},
		Added:   entries{{Page: 1 << 40, Offset: 3 << 12, Length: 8192, Stored: 5000, Tail: 8, Checksum: 0xdeadbeefcafef00d}},
		Changed: entries{{Page: 2, Offset: 5 << 5, Length: 4096, Stored: 139, Checksum: 1}, {Page: 9, Offset: 6 << 5, Length: 4096, Checksum: 2}},
		Removed: []uint64{4, 5},
	}
	b, err := msgpack.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var got adoptMsg
	if err := msgpack.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Added, m.Added) || !reflect.DeepEqual(got.Changed, m.Changed) ||
		!reflect.DeepEqual(got.Removed, m.Removed) || got.Header.Tick != 9 || got.Base != 7 || len(got.Entries) != 0 {
		t.Fatalf("round trip changed the message:\n%+v\n%+v", m, got)
	}
	// Entries that are not whole 48-byte records are an error.
	var bad entries
	if err := msgpack.Unmarshal(append([]byte{0xc4, 5}, 1, 2, 3, 4, 5), &bad); err == nil {
		t.Fatal("5 bytes of entries decoded")
	}
}

// FuzzAdoptMsg: whatever bytes arrive as a reader tick message, decoding
// fails cleanly (never panics) or gives a message that encodes again.
func FuzzAdoptMsg(f *testing.F) {
	seed, _ := msgpack.Marshal(adoptMsg{Base: 1, Added: entries{{Page: 1, Offset: 2048, Length: 4096, Stored: 7, Checksum: 3}}})
	f.Add(seed)
	f.Fuzz(func(t *testing.T, b []byte) {
		var m adoptMsg
		if unmarshal(b, &m) != nil {
			return
		}
		if _, err := msgpack.Marshal(m); err != nil {
			t.Fatalf("decoded message does not encode: %v", err)
		}
	})
}
