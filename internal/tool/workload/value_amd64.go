package workload

import "golang.org/x/sys/cpu"

// useAVX2 selects the AVX2 kernels of value_amd64.s for the whole blocks at
// the start of Fill's and Check's buffers; fillGo and checkGo do the rest.
var useAVX2 = cpu.X86.HasAVX2

// vecBlock is the bytes one iteration of a kernel covers: four 32-byte
// vectors, 32 int32 or 16 64-bit elements.
const vecBlock = 128

// The kernels take p's first byte and a count of whole blocks, so that the
// Go side does every bounds check. fill32AVX2 and check32AVX2 narrow to
// int32 (v>>33), fill64AVX2 and check64AVX2 to or | v>>sh (narrow64). The
// checks return how many blocks match before the first that differs.

//go:noescape
func fill32AVX2(p *byte, blocks int, v, stride uint64)

//go:noescape
func fill64AVX2(p *byte, blocks int, v, stride, sh, or uint64)

//go:noescape
func check32AVX2(p *byte, blocks int, v, stride uint64) int

//go:noescape
func check64AVX2(p *byte, blocks int, v, stride, sh, or uint64) int

// fill is Fill from the value v of p's first element: the kernel for the
// whole blocks, fillGo for the rest.
func fill(p []byte, dtype DType, v, stride uint64, n int) {
	if k := fillAVX2(p, dtype, v, stride, n); k > 0 {
		p, v, n = p[k*dtype.Size():], v+uint64(k)*stride, n-k
	}
	fillGo(p, dtype, v, stride, n)
}

// fillAVX2 fills the whole blocks at the start of p's n elements, if the
// CPU has AVX2, and returns how many elements they hold.
func fillAVX2(p []byte, dtype DType, v, stride uint64, n int) int {
	blocks := kernelBlocks(p, dtype, n)
	switch {
	case blocks == 0:
		return 0
	case dtype == Int32:
		fill32AVX2(&p[0], blocks, v, stride)
	default:
		sh, or := narrow64(dtype)
		fill64AVX2(&p[0], blocks, v, stride, sh, or)
	}
	return blocks * vecBlock / dtype.Size()
}

// kernelBlocks is the number of whole vecBlocks in p's first n elements of
// dtype for the kernels, none without AVX2; p must hold the n elements
// (the bounds check the kernels do not do).
func kernelBlocks(p []byte, dtype DType, n int) int {
	if !useAVX2 {
		return 0
	}
	return len(p[:dtype.Size()*n]) / vecBlock
}

// check is Check from the value v of p's first element: the kernel up to
// the first block that differs, checkGo from there.
func check(p []byte, dtype DType, v, stride uint64, n int) int {
	k := checkAVX2(p, dtype, v, stride, n)
	if k > 0 {
		p, v, n = p[k*dtype.Size():], v+uint64(k)*stride, n-k
	}
	if i := checkGo(p, dtype, v, stride, n); i >= 0 {
		return k + i
	}
	return -1
}

// checkAVX2 compares the whole blocks at the start of p's n elements, if
// the CPU has AVX2, and returns how many elements precede the first block
// that differs (all of them if none does): checkGo names the element from
// there.
func checkAVX2(p []byte, dtype DType, v, stride uint64, n int) int {
	blocks := kernelBlocks(p, dtype, n)
	switch {
	case blocks == 0:
		return 0
	case dtype == Int32:
		blocks = check32AVX2(&p[0], blocks, v, stride)
	default:
		sh, or := narrow64(dtype)
		blocks = check64AVX2(&p[0], blocks, v, stride, sh, or)
	}
	return blocks * vecBlock / dtype.Size()
}
