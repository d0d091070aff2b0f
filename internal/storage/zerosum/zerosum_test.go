package zerosum

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/cespare/xxhash/v2"
)

// TestMatchesXXHash: any sequence of writes and zero runs, of every length
// around the 32-byte stripe and the 8- and 4-byte tail steps, hashes as
// xxhash64 of the bytes they make.
func TestMatchesXXHash(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 9))
	for i := range 20000 {
		d := New()
		var all []byte
		for range rng.IntN(5) {
			n := rng.IntN(80)
			if i%3 == 0 {
				n = rng.IntN(5000)
			}
			if rng.IntN(2) == 0 {
				p := make([]byte, n)
				for j := range p {
					p[j] = byte(rng.UintN(256))
				}
				d.Write(p)
				all = append(all, p...)
			} else {
				d.Zeros(n)
				all = append(all, make([]byte, n)...)
			}
		}
		if got, want := d.Sum64(), xxhash.Sum64(all); got != want {
			t.Fatalf("case %d (%d bytes): %#x, xxhash64 %#x", i, len(all), got, want)
		}
	}
	p := bytes.Repeat([]byte{7}, 150)
	if got, want := Sum64(p, 4096-150), xxhash.Sum64(append(p, make([]byte, 4096-150)...)); got != want {
		t.Fatalf("Sum64: %#x, want %#x", got, want)
	}
}

// FuzzMatchesXXHash: p, then n zeros, then q.
func FuzzMatchesXXHash(f *testing.F) {
	f.Add([]byte("fields"), uint16(4000), []byte{1, 2, 3, 4, 5, 6, 7, 8})
	f.Fuzz(func(t *testing.T, p []byte, n uint16, q []byte) {
		d := New()
		d.Write(p)
		d.Zeros(int(n))
		d.Write(q)
		all := append(append(bytes.Clone(p), make([]byte, n)...), q...)
		if got, want := d.Sum64(), xxhash.Sum64(all); got != want {
			t.Fatalf("%#x, xxhash64 %#x", got, want)
		}
	})
}

func BenchmarkPage(b *testing.B) {
	p := bytes.Repeat([]byte{7}, 150)
	img := append(bytes.Clone(p), make([]byte, 4096-150)...)
	b.Run("zerosum", func(b *testing.B) {
		for range b.N {
			Sum64(p, 4096-150)
		}
	})
	b.Run("xxhash", func(b *testing.B) {
		for range b.N {
			xxhash.Sum64(img)
		}
	})
}
