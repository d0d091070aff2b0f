//go:build !amd64

package workload

// useAVX2 is false: only amd64 has the vector kernels.
const useAVX2 = false

func fill(p []byte, dtype DType, v, stride uint64, n int) { fillGo(p, dtype, v, stride, n) }

func check(p []byte, dtype DType, v, stride uint64, n int) int {
	return checkGo(p, dtype, v, stride, n)
}
