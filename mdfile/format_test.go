package mdfile

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"

	"pwstore/internal/storage/corrupt"
)

func sampleHeader() Header {
	return Header{
		PageSize: 4096, Status: StatusOpen, Tick: 1<<40 + 7, IndexTick: 1<<40 + 5,
		RootOffset: 1 << 45, RootLength: nodeLength(3), RootChecksum: 0xdeadbeef, Entries: 77,
		FileID:    [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		Heartbeat: time.Unix(1700000000, 123456789), MaxLag: 10, ReservedPages: 64,
		Version: headerVersion, OldestTick: 1<<40 - 400,
	}
}

func sampleEntries() []Entry {
	return []Entry{
		{Page: 3, Offset: 70 * 32, Length: 4096, Stored: 139, Checksum: 1},
		{Page: 4, Offset: 1<<45 + 32, Length: 3 * 4096, Stored: 3 * 4096, Checksum: 2}, // multi-page, whole, far offset
		{Page: 1<<32 + 5, Offset: 1024, Length: 4096, Stored: 0, Checksum: 3},          // data page above 2^32, all zeros
		{Page: 1<<50 + 1, Offset: 80 * 32, Length: 2 * 4096, Stored: 4097, Checksum: 4},
	}
}

// sampleRefs are a root's references to branch pages.
func sampleRefs() []Ref {
	return []Ref{
		{First: 3, Offset: 20480, Length: uint32(nodeLength(4)), Count: 4, Checksum: 11},
		{First: 1 << 33, Offset: 1<<46 + 9, Length: uint32(nodeLength(1)), Count: 1, Checksum: 12},
		{First: 1 << 60, Offset: 28672, Length: uint32(nodeLength(2)), Count: 2, Checksum: 13},
	}
}

// sampleLeafRefs are a branch's references to 7 entries in index pages.
func sampleLeafRefs() []Ref {
	return []Ref{
		{First: 3, Offset: 20480, Length: uint32(leafLength(4)), Count: 4, Checksum: 11},
		{First: 1 << 33, Offset: 1<<46 + 9, Length: uint32(leafLength(1)), Count: 1, Checksum: 12},
		{First: 1 << 60, Offset: 28672, Length: uint32(leafLength(2)), Count: 2, Checksum: 13},
	}
}

func TestHeaderRoundTrip(t *testing.T) {
	h := sampleHeader()
	b := make([]byte, HeaderSize)
	h.Encode(b)
	got, err := DecodeHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Heartbeat.Equal(h.Heartbeat) {
		t.Fatalf("heartbeat %v, want %v", got.Heartbeat, h.Heartbeat)
	}
	got.Heartbeat, h.Heartbeat = time.Time{}, time.Time{}
	if got != h {
		t.Fatalf("decoded %+v, want %+v", got, h)
	}
	empty := sampleHeader()
	empty.RootOffset, empty.RootLength, empty.RootChecksum, empty.Entries = 0, 0, 0, 0
	empty.Encode(b)
	if _, err := DecodeHeader(b); err != nil {
		t.Fatalf("empty index header: %v", err)
	}
	// Version 3: 104 bytes, no oldest tick stored; it reads as the ticks
	// rule gives it, and re-encodes to the same bytes.
	v3 := sampleHeader()
	v3.Version = headerVersion3
	b3 := make([]byte, v3.Size())
	v3.Encode(b3)
	got3, err := DecodeHeader(b3)
	if err != nil {
		t.Fatal(err)
	}
	if want := v3.Tick - uint64(v3.MaxLag) + 1; got3.Version != headerVersion3 || got3.OldestTick != want {
		t.Fatalf("version 3 header: version %d, oldest tick %d, want 3 and %d", got3.Version, got3.OldestTick, want)
	}
	again := make([]byte, got3.Size())
	got3.Encode(again)
	if !bytes.Equal(again, b3) {
		t.Fatal("version 3 header re-encodes differently")
	}
}

func TestIndexRoundTrip(t *testing.T) {
	es := sampleEntries()
	b := encodeLeaf(nil, 4096, 9, es)
	if uint64(len(b)) != leafLength(len(es)) {
		t.Fatalf("leaf of %d bytes, want %d", len(b), leafLength(len(es)))
	}
	l, err := DecodeLeaf(b, 4096)
	if err != nil {
		t.Fatal(err)
	}
	if l.Tick != 9 || !reflect.DeepEqual(l.Entries, es) {
		t.Fatalf("leaf %+v", l)
	}
	refs := sampleRefs()
	rb := encodeNode(nil, rootMagic, 9, 7, refs)
	r, err := DecodeRoot(rb, 4096)
	if err != nil {
		t.Fatal(err)
	}
	if r.Tick != 9 || r.Entries != 7 || !reflect.DeepEqual(r.Refs, refs) {
		t.Fatalf("root %+v", r)
	}
	if r, err := DecodeRoot(encodeNode(nil, rootMagic, 1, 0, nil), 512); err != nil || len(r.Refs) != 0 {
		t.Fatalf("empty root: %+v %v", r, err)
	}
	br, err := DecodeBranch(encodeNode(nil, branchMagic, 8, 7, sampleLeafRefs()), 4096)
	if err != nil {
		t.Fatal(err)
	}
	if br.Tick != 8 || br.Entries != 7 || !reflect.DeepEqual(br.Refs, sampleLeafRefs()) {
		t.Fatalf("branch %+v", br)
	}
	if _, err := DecodeRoot(encodeNode(nil, branchMagic, 8, 7, sampleLeafRefs()), 4096); !errors.Is(err, ErrBadMagic) {
		t.Fatalf("branch decoded as a root: %v", err)
	}
}

// everyByteCorrupts flips each byte of b in turn and requires decode to fail
// with an error marked as corruption, or, for the version field (bytes 4
// to 7), with ErrBadVersion and no corruption mark.
func everyByteCorrupts(t *testing.T, what string, b []byte, decode func([]byte) error) {
	t.Helper()
	for i := range b {
		for _, flip := range []byte{0x01, 0x80, 0xff} {
			c := append([]byte(nil), b...)
			c[i] ^= flip
			err := decode(c)
			if i >= 4 && i < 8 {
				if !errors.Is(err, ErrBadVersion) || errors.Is(err, corrupt.Err) {
					t.Fatalf("%s: version byte %d ^ %#x: err %v, want ErrBadVersion, not corruption", what, i, flip, err)
				}
				continue
			}
			if err == nil || !errors.Is(err, corrupt.Err) {
				t.Fatalf("%s: byte %d ^ %#x: err %v, want corruption", what, i, flip, err)
			}
		}
	}
	for _, n := range []int{0, 1, len(b) - 1} {
		if err := decode(b[:n]); !errors.Is(err, corrupt.Err) {
			t.Fatalf("%s truncated to %d: %v", what, n, err)
		}
	}
}

func TestCorruptionDetected(t *testing.T) {
	h := sampleHeader()
	hb := make([]byte, HeaderSize)
	h.Encode(hb)
	everyByteCorrupts(t, "header", hb, func(b []byte) error { _, err := DecodeHeader(b); return err })
	h.Version = headerVersion3
	hb3 := make([]byte, h.Size())
	h.Encode(hb3)
	everyByteCorrupts(t, "version 3 header", hb3, func(b []byte) error { _, err := DecodeHeader(b); return err })
	lb := encodeLeaf(nil, 4096, 9, sampleEntries())
	everyByteCorrupts(t, "index page", lb, func(b []byte) error { _, err := DecodeLeaf(b, 4096); return err })
	rb := encodeNode(nil, rootMagic, 9, 7, sampleRefs())
	everyByteCorrupts(t, "index root", rb, func(b []byte) error { _, err := DecodeRoot(b, 4096); return err })
	bb := encodeNode(nil, branchMagic, 9, 7, sampleLeafRefs())
	everyByteCorrupts(t, "branch page", bb, func(b []byte) error { _, err := DecodeBranch(b, 4096); return err })
}

func TestDistinctSentinels(t *testing.T) {
	h := sampleHeader()
	good := make([]byte, HeaderSize)
	h.Encode(good)
	mod := func(f func(b []byte)) []byte {
		b := append([]byte(nil), good...)
		f(b)
		return b
	}
	reseal := func(h Header) []byte {
		b := make([]byte, HeaderSize)
		h.Encode(b)
		return b
	}
	cases := []struct {
		name string
		b    []byte
		want error
	}{
		{"magic", mod(func(b []byte) { b[0] = 'X' }), ErrBadMagic},
		{"checksum", mod(func(b []byte) { b[20] ^= 1 }), ErrBadChecksum},
		{"short", good[:HeaderSize-1], ErrBadLength},
		{"page size", reseal(func() Header { h := h; h.PageSize = 1000; return h }()), ErrBadField},
		{"status", reseal(func() Header { h := h; h.Status = 9; return h }()), ErrBadField},
		{"index tick", reseal(func() Header { h := h; h.IndexTick = h.Tick + 1; return h }()), ErrTickMismatch},
		{"root offset", reseal(func() Header { h := h; h.RootOffset = 1000; return h }()), ErrBadBounds},
		{"root length", reseal(func() Header { h := h; h.RootLength = rootFixed + 1; return h }()), ErrBadBounds},
		{"oldest tick after tick", reseal(func() Header { h := h; h.OldestTick = h.Tick + 1; return h }()), ErrTickMismatch},
		{"oldest tick 0", reseal(func() Header { h := h; h.OldestTick = 0; return h }()), ErrTickMismatch},
		{"version 3 short", func() []byte { h := h; h.Version = headerVersion3; return reseal(h)[:headerSize3-1] }(), ErrBadLength},
		{"version 3 max lag 0", reseal(func() Header { h := h; h.Version, h.MaxLag = headerVersion3, 0; return h }()), ErrBadField},
	}
	for _, c := range cases {
		_, err := DecodeHeader(c.b)
		if !errors.Is(err, c.want) || !errors.Is(err, corrupt.Err) {
			t.Errorf("%s: %v, want %v and corruption", c.name, err, c.want)
		}
	}
	es := sampleEntries()
	es[1].Page = 2 // before its predecessor
	if _, err := DecodeLeaf(encodeLeaf(nil, 4096, 9, es), 4096); !errors.Is(err, ErrUnsorted) {
		t.Errorf("unsorted leaf: %v", err)
	}
	es = sampleEntries()
	es[0].Length = 3 * 4096 // page 3, three pages, covers page 4
	if _, err := DecodeLeaf(encodeLeaf(nil, 4096, 9, es), 4096); !errors.Is(err, ErrUnsorted) {
		t.Errorf("overlapping leaf: %v", err)
	}
	es = sampleEntries()
	es[2].Length = 100
	if _, err := DecodeLeaf(encodeLeaf(nil, 4096, 9, es), 4096); !errors.Is(err, ErrBadBounds) {
		t.Errorf("partial-page entry: %v", err)
	}
	es = sampleEntries()
	es[0].Offset = 1023 // inside the header slots
	if _, err := DecodeLeaf(encodeLeaf(nil, 4096, 9, es), 4096); !errors.Is(err, ErrBadBounds) {
		t.Errorf("entry in header page: %v", err)
	}
	es = sampleEntries()
	es[0].Stored = 4097 // more bytes stored than the image has
	if _, err := DecodeLeaf(encodeLeaf(nil, 4096, 9, es), 4096); !errors.Is(err, ErrBadBounds) || !errors.Is(err, corrupt.Err) {
		t.Errorf("entry storing more than its image: %v", err)
	}
	refs := sampleRefs()
	refs[2].First = 1
	if _, err := DecodeRoot(encodeNode(nil, rootMagic, 9, 7, refs), 4096); !errors.Is(err, ErrUnsorted) {
		t.Errorf("unsorted root: %v", err)
	}
	if _, err := DecodeBranch(encodeNode(nil, branchMagic, 9, 8, sampleLeafRefs()), 4096); !errors.Is(err, ErrBadBounds) {
		t.Errorf("branch entry count: %v", err)
	}
	bad := sampleLeafRefs()
	bad[1].Length = uint32(nodeLength(1)) // a branch-sized child in a branch
	if _, err := DecodeBranch(encodeNode(nil, branchMagic, 9, 7, bad), 4096); !errors.Is(err, ErrBadLength) {
		t.Errorf("bad child length: %v", err)
	}
}
