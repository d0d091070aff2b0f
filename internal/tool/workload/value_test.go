package workload

import (
	"encoding/binary"
	"math"
	"testing"
)

// TestFillMatchesValue checks the tight loops of Fill and Check against the
// documented formula, element by element, for every element type, and
// lengths that end inside, at and past their unrolled blocks.
func TestFillMatchesValue(t *testing.T) {
	for _, dt := range []DType{Int32, Int64, Float64} {
		for _, n := range []int{1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 301} {
			fillMatchesValue(t, dt, n)
		}
	}
}

func fillMatchesValue(t *testing.T, dt DType, n int) {
	t.Helper()
	const d, s, e0 = 7, 11, 1_000_003
	p := make([]byte, n*dt.Size())
	Fill(p, dt, d, s, e0, n)
	base := mix(mix(d) ^ s)
	stride := mix(base) | 1
	for i := range uint64(n) {
		v := base + (e0+i)*stride
		var got uint64
		switch dt {
		case Int32:
			got = uint64(binary.LittleEndian.Uint32(p[4*i:]))
			if got != v>>33 || int32(got) < 0 {
				t.Fatalf("n=%d: int32 element %d: %#x, want %#x", n, i, got, v>>33)
			}
		case Int64:
			got = binary.LittleEndian.Uint64(p[8*i:])
			if got != v>>1 || int64(got) < 0 {
				t.Fatalf("n=%d: int64 element %d: %#x, want %#x", n, i, got, v>>1)
			}
		case Float64:
			f := math.Float64frombits(binary.LittleEndian.Uint64(p[8*i:]))
			if f != math.Float64frombits(float64One|v>>12) || f < 1 || f >= 2 {
				t.Fatalf("n=%d: float64 element %d: %v", n, i, f)
			}
		}
		one := make([]byte, dt.Size())
		Put(one, dt, d, s, e0+i)
		if string(one) != string(p[int(i)*dt.Size():int(i+1)*dt.Size()]) {
			t.Fatalf("n=%d: %s element %d: Put and Fill disagree", n, dt, i)
		}
	}
	if k := Check(p, dt, d, s, e0, n); k != -1 {
		t.Fatalf("n=%d: %s: Check rejects Fill's values at %d", n, dt, k)
	}
	// A change in any element is found there.
	for i := range n {
		q := append([]byte(nil), p...)
		q[i*dt.Size()] ^= 1
		if k := Check(q, dt, d, s, e0, n); k != i {
			t.Fatalf("n=%d: %s: element %d changed, Check says %d", n, dt, i, k)
		}
	}
}

// TestCheckFindsMisplaced: swapped neighbours, a shifted run, another step,
// another dataset and zeroes are all caught at the first wrong element.
func TestCheckFindsMisplaced(t *testing.T) {
	for _, dt := range []DType{Int32, Int64, Float64} {
		const n = 1001
		sz := dt.Size()
		good := make([]byte, n*sz)
		Fill(good, dt, 3, 5, 0, n)
		cases := map[string]func(p []byte) int{
			"swap": func(p []byte) int {
				a, b := p[10*sz:11*sz], p[11*sz:12*sz]
				tmp := string(a)
				copy(a, b)
				copy(b, tmp)
				return 10
			},
			"shift": func(p []byte) int { Fill(p[500*sz:], dt, 3, 5, 501, n-500); return 500 },
			"step":  func(p []byte) int { Fill(p[200*sz:], dt, 3, 6, 200, n-200); return 200 },
			"dset":  func(p []byte) int { Fill(p[300*sz:], dt, 4, 5, 300, n-300); return 300 },
			"zero":  func(p []byte) int { clear(p[700*sz:]); return 700 },
			"last":  func(p []byte) int { p[n*sz-1] ^= 1; return n - 1 },
		}
		for name, damage := range cases {
			p := append([]byte(nil), good...)
			want := damage(p)
			if k := Check(p, dt, 3, 5, 0, n); k != want {
				t.Errorf("%s %s: first bad element %d, want %d", dt, name, k, want)
			}
		}
	}
}

func BenchmarkFillInt32(b *testing.B) {
	p := make([]byte, 4<<20)
	b.SetBytes(int64(len(p)))
	for i := 0; b.Loop(); i++ {
		Fill(p, Int32, 1, uint64(i), 0, len(p)/4)
	}
}

func BenchmarkCheckInt32(b *testing.B) {
	p := make([]byte, 4<<20)
	Fill(p, Int32, 1, 2, 0, len(p)/4)
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		if Check(p, Int32, 1, 2, 0, len(p)/4) != -1 {
			b.Fatal("mismatch")
		}
	}
}

func BenchmarkFillFloat64(b *testing.B) {
	p := make([]byte, 4<<20)
	b.SetBytes(int64(len(p)))
	for i := 0; b.Loop(); i++ {
		Fill(p, Float64, 1, uint64(i), 0, len(p)/8)
	}
}
