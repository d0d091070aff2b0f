package workload

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// The tests of this file hold Fill and Check, which on amd64 with AVX2 run
// the kernels of value_amd64.s for whole blocks, to fillGo and checkGo, the
// Go loops, which value_test.go holds to the formula.

var dtypes = []DType{Int32, Int64, Float64}

// fillBoth fills n elements with Fill and with fillGo into buffers with
// guard bytes on either side and off bytes of misalignment, fails the test
// if they differ or either writes outside its n elements, and returns
// Fill's elements.
func fillBoth(t testing.TB, dt DType, d, s, e0 uint64, n, off int) []byte {
	t.Helper()
	const guard = 160
	size := n * dt.Size()
	fast := bytes.Repeat([]byte{0xa5}, off+size+2*guard)
	slow := bytes.Repeat([]byte{0xa5}, off+size+2*guard)
	Fill(fast[off+guard:off+guard+size], dt, d, s, e0, n)
	fillGo(slow[off+guard:off+guard+size], dt, Value(d, s, e0), progressionStride(d, s), n)
	if !bytes.Equal(fast, slow) {
		i := 0
		for fast[i] == slow[i] {
			i++
		}
		t.Fatalf("%s d=%#x s=%#x e0=%#x n=%d off=%d: Fill and fillGo differ at byte %d of %d (elements at %d)",
			dt, d, s, e0, n, off, i, len(fast), off+guard)
	}
	for _, b := range append(fast[:off+guard:off+guard], fast[off+guard+size:]...) {
		if b != 0xa5 {
			t.Fatalf("%s n=%d off=%d: Fill wrote outside its elements", dt, n, off)
		}
	}
	return fast[off+guard : off+guard+size]
}

func progressionStride(d, s uint64) uint64 {
	_, stride := progression(d, s)
	return stride
}

// checkBoth runs Check and checkGo on p and fails the test unless both say
// want.
func checkBoth(t testing.TB, p []byte, dt DType, d, s, e0 uint64, n, want int) {
	t.Helper()
	fast := Check(p, dt, d, s, e0, n)
	slow := checkGo(p, dt, Value(d, s, e0), progressionStride(d, s), n)
	if fast != want || slow != want {
		t.Fatalf("%s d=%#x s=%#x e0=%#x n=%d: Check %d, checkGo %d, want %d", dt, d, s, e0, n, fast, slow, want)
	}
}

// sizes are the lengths the path tests try: every one up to past three
// int32 blocks, then large ones that end inside, at and past a block.
func sizes() []int {
	var ns []int
	for n := range 101 {
		ns = append(ns, n)
	}
	return append(ns, 1023, 1024, 1025, 4096+31, 1<<16, 1<<16+17)
}

func TestFillPathsAgree(t *testing.T) {
	if !useAVX2 {
		t.Log("no AVX2 kernels here: this compares the Go loops with themselves")
	}
	r := rand.New(rand.NewPCG(1, 2))
	for _, dt := range dtypes {
		for _, n := range sizes() {
			tries := 8
			if n > 1000 {
				tries = 2
			}
			for range tries {
				d, s, e0 := r.Uint64(), r.Uint64(), r.Uint64()
				p := fillBoth(t, dt, d, s, e0, n, r.IntN(32))
				checkBoth(t, p, dt, d, s, e0, n, -1)
			}
		}
	}
}

// TestCheckFindsEveryByte flips one byte at every position of small
// buffers, and at random positions of large ones, and expects both paths to
// name its element; then a second flip further on, which must not change
// the answer.
func TestCheckFindsEveryByte(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, dt := range dtypes {
		for _, n := range sizes() {
			d, s, e0 := r.Uint64(), r.Uint64(), r.Uint64()
			p := fillBoth(t, dt, d, s, e0, n, 0)
			positions := make([]int, 0, len(p))
			if n <= 100 {
				for i := range p {
					positions = append(positions, i)
				}
			} else {
				for range 32 {
					positions = append(positions, r.IntN(len(p)))
				}
				positions = append(positions, 0, len(p)-1)
			}
			for _, i := range positions {
				bit := byte(1) << r.IntN(8)
				p[i] ^= bit
				checkBoth(t, p, dt, d, s, e0, n, i/dt.Size())
				if j := i + 1 + r.IntN(len(p)-i); j < len(p) {
					p[j] ^= 0x80
					checkBoth(t, p, dt, d, s, e0, n, i/dt.Size())
					p[j] ^= 0x80
				}
				p[i] ^= bit
			}
		}
	}
}

// FuzzFillCheck compares the two paths on any progression, length and
// misalignment, with a flipped byte, and Check on arbitrary bytes.
func FuzzFillCheck(f *testing.F) {
	f.Add(uint64(7), uint64(11), uint64(1_000_003), uint16(301), uint8(0), uint8(0), uint32(100), []byte("x"))
	f.Add(uint64(0), uint64(0), uint64(1<<63), uint16(64), uint8(1), uint8(3), uint32(511), []byte{})
	f.Add(^uint64(0), uint64(1), ^uint64(0), uint16(33), uint8(2), uint8(7), uint32(0), bytes.Repeat([]byte{0, 0, 0xf0, 0x3f}, 80))
	f.Fuzz(func(t *testing.T, d, s, e0 uint64, n uint16, dti, off uint8, flip uint32, junk []byte) {
		dt := dtypes[int(dti)%len(dtypes)]
		p := fillBoth(t, dt, d, s, e0, int(n), int(off%32))
		checkBoth(t, p, dt, d, s, e0, int(n), -1)
		if len(p) > 0 {
			i := int(flip % uint32(len(p)))
			p[i] ^= byte(1) << (flip >> 29)
			checkBoth(t, p, dt, d, s, e0, int(n), i/dt.Size())
		}
		m := len(junk) / dt.Size()
		fast := Check(junk, dt, d, s, e0, m)
		if slow := checkGo(junk, dt, Value(d, s, e0), progressionStride(d, s), m); fast != slow {
			t.Fatalf("%s n=%d arbitrary bytes: Check %d, checkGo %d", dt, m, fast, slow)
		}
	})
}
