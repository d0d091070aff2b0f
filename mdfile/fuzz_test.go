package mdfile

import (
	"bytes"
	"testing"

	"github.com/cespare/xxhash/v2"
)

// Fuzz targets: decoders never panic, and whatever they accept encodes
// back to the same bytes. Seeds are in testdata/fuzz/.

func FuzzHeader(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := DecodeHeader(b)
		if err != nil {
			return
		}
		again := make([]byte, h.Size())
		h.Encode(again)
		if !bytes.Equal(again, b[:h.Size()]) {
			t.Fatalf("accepted header does not re-encode to its bytes")
		}
	})
}

func FuzzRoot(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte, shift uint8) {
		ps := uint64(MinPageSize) << (shift % 12)
		r, err := DecodeRoot(b, ps)
		if err != nil {
			return
		}
		if again := encodeNode(nil, rootMagic, r.Tick, r.Entries, r.Refs); !bytes.Equal(again, b) {
			t.Fatalf("accepted root does not re-encode to its bytes")
		}
	})
}

func FuzzBranch(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte, shift uint8) {
		ps := uint64(MinPageSize) << (shift % 12)
		n, err := DecodeBranch(b, ps)
		if err != nil {
			return
		}
		if again := encodeNode(nil, branchMagic, n.Tick, n.Entries, n.Refs); !bytes.Equal(again, b) {
			t.Fatalf("accepted branch does not re-encode to its bytes")
		}
	})
}

func FuzzLeaf(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte, shift uint8) {
		ps := uint64(MinPageSize) << (shift % 12)
		l, err := DecodeLeaf(b, ps)
		if err != nil {
			return
		}
		if again := encodeLeaf(nil, ps, l.Tick, l.Entries); !bytes.Equal(again, b) {
			t.Fatalf("accepted index page does not re-encode to its bytes")
		}
	})
}

// FuzzImage: restoring a page image from its stored bytes never panics,
// and an accepted image is the stored head, zeros, then the stored tail,
// matching the entry's checksum.
func FuzzImage(f *testing.F) {
	f.Fuzz(func(t *testing.T, file []byte, off, length, stored, tail, sum uint64, shift uint8) {
		ps := uint64(MinPageSize) << (shift % 4)
		e := Entry{Page: 1, Offset: off, Length: length % (4*ps + 1), Stored: stored, Tail: tail, Checksum: sum}
		p := make([]byte, e.Length)
		if err := readImage(bytes.NewReader(file), ps, e, p); err != nil {
			return
		}
		var s []byte // an all-zero page is stored as nothing, at any offset
		if e.Stored > 0 {
			s = file[e.Offset : e.Offset+e.Stored]
		}
		h, gap := e.Stored-e.Tail, e.Length-e.Stored
		if !bytes.Equal(p[:h], s[:h]) || !bytes.Equal(p[h+gap:], s[h:]) {
			t.Fatalf("accepted image is not its stored bytes")
		}
		if bytes.Count(p[h:h+gap], []byte{0}) != int(gap) || xxhash.Sum64(p) != e.Checksum {
			t.Fatalf("accepted image has nonzero bytes between head and tail or the wrong checksum")
		}
	})
}
