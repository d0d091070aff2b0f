// Package workload defines the checkpoint workloads that pwriter writes and
// preader verifies: which datasets exist, how each rank splits a step, and
// the value of every element.
//
// Every value is a known function of (dataset, step, element), an arithmetic
// progression in the element number e (its linear index within the step):
//
//	base   = mix(mix(d) ^ s)              // splitmix64's finaliser, twice
//	stride = mix(base) | 1                // odd
//	Value(d, s, e) = base + e*stride      // mod 2^64
//
// then narrowed to the element type: int32 keeps bits 33..63 (non-negative),
// int64 bits 1..63 (non-negative), float64 puts bits 12..63 in the mantissa
// of a number in [1, 2) (exact, never NaN). Two mixes per (dataset, step)
// and one addition per element: Fill and Check run at memory speed, with no
// hash per element. On amd64 with AVX2 they add, narrow and store or
// compare four 64-bit patterns per instruction (value_amd64.s), since the
// scalar loop reached half the store bandwidth and took a quarter of
// pwriter's CPU on planes. A reader verifies any element it sees without
// talking to the writer. A misplaced element fails the check because the
// stride is odd, so e*stride differs for every e below 2^64; an element of
// another step or dataset, or one never written (zero), matches by chance
// with probability about 2^-31 per int32 element; a torn element fails like
// a wrong one.
package workload

import (
	"encoding/binary"
	"fmt"
)

// mix is splitmix64's finaliser: a bijection on uint64 with good avalanche.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// progression is the base and odd stride of step s of dataset d.
func progression(d, s uint64) (base, stride uint64) {
	base = mix(mix(d) ^ s)
	return base, mix(base) | 1
}

// Value is the 64-bit pattern of element e of step s of dataset d.
func Value(d, s, e uint64) uint64 {
	base, stride := progression(d, s)
	return base + e*stride
}

// float64One is the bit pattern of 1.0: with 52 mantissa bits below it, a
// number in [1, 2).
const float64One = 0x3ff0000000000000

// narrow is the element of dtype that the 64-bit pattern v stands for, as
// the little-endian bits stored in the file.
func narrow(dtype DType, v uint64) uint64 {
	if dtype == Int32 {
		return v >> 33
	}
	sh, or := narrow64(dtype)
	return or | v>>sh
}

// narrow64 is narrow for the 8-byte types, a shift and an OR: the element
// is or | v>>sh.
func narrow64(dtype DType) (sh, or uint64) {
	switch dtype {
	case Int64:
		return 1, 0
	case Float64:
		return 12, float64One
	}
	panic("workload: unsupported dtype " + string(dtype))
}

// Put encodes Value(d, s, e) as one element of dtype into p (little-endian),
// which must hold exactly Size(dtype) bytes.
func Put(p []byte, dtype DType, d, s, e uint64) {
	v := narrow(dtype, Value(d, s, e))
	if dtype == Int32 {
		binary.LittleEndian.PutUint32(p, uint32(v))
		return
	}
	binary.LittleEndian.PutUint64(p, v)
}

// Fill writes the values of elements [e0, e0+n) of step s of dataset d into
// p, which holds n elements of dtype.
func Fill(p []byte, dtype DType, d, s, e0 uint64, n int) {
	base, stride := progression(d, s)
	fill(p, dtype, base+e0*stride, stride, n)
}

// fillGo is Fill in Go, from the value v of p's first element: the whole of
// Fill where the vector kernels do not run, their tails where they do.
func fillGo(p []byte, dtype DType, v, stride uint64, n int) {
	switch dtype {
	case Int32:
		p = p[:4*n]
		// Eight elements per iteration, two per 8-byte store, each from v
		// and a constant multiple of the stride: the four stores do not
		// wait for one another, and one bounds check covers them (twice the
		// speed of one store per iteration, about the speed of copy).
		s1, s2, s3, s4, s5, s6, s7 := stride, 2*stride, 3*stride, 4*stride, 5*stride, 6*stride, 7*stride
		i := 0
		for ; i+32 <= len(p); i += 32 {
			q := p[i : i+32 : i+32]
			binary.LittleEndian.PutUint64(q[0:], v>>33|(v+s1)>>33<<32)
			binary.LittleEndian.PutUint64(q[8:], (v+s2)>>33|(v+s3)>>33<<32)
			binary.LittleEndian.PutUint64(q[16:], (v+s4)>>33|(v+s5)>>33<<32)
			binary.LittleEndian.PutUint64(q[24:], (v+s6)>>33|(v+s7)>>33<<32)
			v += 8 * stride
		}
		for ; i+4 <= len(p); i += 4 {
			binary.LittleEndian.PutUint32(p[i:], uint32(v>>33))
			v += stride
		}
	case Int64, Float64:
		p = p[:8*n]
		// One loop for both (sh&63 spares Go's check for shifts of 64 or
		// more).
		sh, or := narrow64(dtype)
		s1, s2, s3 := stride, 2*stride, 3*stride
		i := 0
		for ; i+32 <= len(p); i += 32 {
			q := p[i : i+32 : i+32]
			binary.LittleEndian.PutUint64(q[0:], or|v>>(sh&63))
			binary.LittleEndian.PutUint64(q[8:], or|(v+s1)>>(sh&63))
			binary.LittleEndian.PutUint64(q[16:], or|(v+s2)>>(sh&63))
			binary.LittleEndian.PutUint64(q[24:], or|(v+s3)>>(sh&63))
			v += 4 * stride
		}
		for ; i+8 <= len(p); i += 8 {
			binary.LittleEndian.PutUint64(p[i:], or|v>>(sh&63))
			v += stride
		}
	default:
		panic("workload: unsupported dtype " + string(dtype))
	}
}

// Check compares p, which holds n elements of dtype read from elements
// [e0, e0+n) of step s of dataset d, with the values Fill writes, and
// returns the index within p of the first element that differs, or -1.
func Check(p []byte, dtype DType, d, s, e0 uint64, n int) int {
	base, stride := progression(d, s)
	return check(p, dtype, base+e0*stride, stride, n)
}

// checkGo is Check in Go, from the value v of p's first element (see
// fillGo).
func checkGo(p []byte, dtype DType, v, stride uint64, n int) int {
	switch dtype {
	case Int32:
		p = p[:4*n]
		// Fill's loop, comparing; at a difference the loop below, from the
		// start of the block, names the element.
		s1, s2, s3, s4, s5, s6, s7 := stride, 2*stride, 3*stride, 4*stride, 5*stride, 6*stride, 7*stride
		i := 0
		for ; i+32 <= len(p); i += 32 {
			q := p[i : i+32 : i+32]
			if binary.LittleEndian.Uint64(q[0:]) != v>>33|(v+s1)>>33<<32 ||
				binary.LittleEndian.Uint64(q[8:]) != (v+s2)>>33|(v+s3)>>33<<32 ||
				binary.LittleEndian.Uint64(q[16:]) != (v+s4)>>33|(v+s5)>>33<<32 ||
				binary.LittleEndian.Uint64(q[24:]) != (v+s6)>>33|(v+s7)>>33<<32 {
				break
			}
			v += 8 * stride
		}
		for ; i+4 <= len(p); i += 4 {
			if binary.LittleEndian.Uint32(p[i:]) != uint32(v>>33) {
				return i / 4
			}
			v += stride
		}
	case Int64, Float64:
		p = p[:8*n]
		sh, or := narrow64(dtype)
		s1, s2, s3 := stride, 2*stride, 3*stride
		i := 0
		for ; i+32 <= len(p); i += 32 {
			q := p[i : i+32 : i+32]
			if binary.LittleEndian.Uint64(q[0:]) != or|v>>(sh&63) ||
				binary.LittleEndian.Uint64(q[8:]) != or|(v+s1)>>(sh&63) ||
				binary.LittleEndian.Uint64(q[16:]) != or|(v+s2)>>(sh&63) ||
				binary.LittleEndian.Uint64(q[24:]) != or|(v+s3)>>(sh&63) {
				break
			}
			v += 4 * stride
		}
		for ; i+8 <= len(p); i += 8 {
			if binary.LittleEndian.Uint64(p[i:]) != or|v>>(sh&63) {
				return i / 8
			}
			v += stride
		}
	default:
		panic("workload: unsupported dtype " + string(dtype))
	}
	return -1
}

// mismatch describes element e of step s of d, read as got.
func mismatch(path string, dtype DType, d, s, e uint64, got []byte) error {
	want := make([]byte, dtype.Size())
	Put(want, dtype, d, s, e)
	return fmt.Errorf("%s step %d element %d: read %x, written %x", path, s, e, got, want)
}
