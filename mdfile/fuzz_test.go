package mdfile

import (
	"bytes"
	"testing"
)

// Fuzz targets: decoders never panic, and whatever they accept encodes
// back to the same bytes. Seeds are in testdata/fuzz/.

func FuzzHeader(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := DecodeHeader(b)
		if err != nil {
			return
		}
		again := make([]byte, HeaderSize)
		h.Encode(again)
		if !bytes.Equal(again, b[:HeaderSize]) {
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
		if again := encodeLeaf(nil, l.Tick, l.Entries); !bytes.Equal(again, b) {
			t.Fatalf("accepted index page does not re-encode to its bytes")
		}
	})
}
