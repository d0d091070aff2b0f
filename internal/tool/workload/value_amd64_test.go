package workload

import (
	"math/rand/v2"
	"testing"
)

// TestCheckAVX2StopsAtTheBlock holds the check kernels to their own answer,
// which Check does not show: a kernel that stopped early would only make
// Check slower, since checkGo goes on from where it stops.
func TestCheckAVX2StopsAtTheBlock(t *testing.T) {
	if !useAVX2 {
		t.Skip("no AVX2")
	}
	r := rand.New(rand.NewPCG(5, 6))
	for _, dt := range dtypes {
		size := dt.Size()
		for _, n := range []int{0, 1, vecBlock/size - 1, vecBlock / size, 3*vecBlock/size + 1, 1000, 1 << 16} {
			d, s, e0 := r.Uint64(), r.Uint64(), r.Uint64()
			v, stride := Value(d, s, e0), progressionStride(d, s)
			p := make([]byte, n*size)
			Fill(p, dt, d, s, e0, n)
			whole := n * size / vecBlock * vecBlock / size
			if k := checkAVX2(p, dt, v, stride, n); k != whole {
				t.Fatalf("%s n=%d: checkAVX2 matched %d elements of good data, want %d", dt, n, k, whole)
			}
			for range 32 {
				if len(p) == 0 {
					break
				}
				i := r.IntN(len(p))
				p[i] ^= 0x10
				want := min(i/vecBlock*vecBlock/size, whole)
				if k := checkAVX2(p, dt, v, stride, n); k != want {
					t.Fatalf("%s n=%d byte %d changed: checkAVX2 matched %d elements, want %d", dt, n, i, k, want)
				}
				p[i] ^= 0x10
			}
		}
	}
}
