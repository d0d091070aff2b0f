// Package workload defines the checkpoint workloads that pwriter writes and
// preader verifies: which datasets exist, how each rank splits a step, and
// the value of every element.
//
// Every value is a known function of (dataset, step, element): Value mixes the
// dataset number, the step and the element's linear index within the step's
// slab with splitmix64, then narrows the 64-bit result to the element type.
// A reader can therefore verify any element it sees without talking to the
// writer, and a misplaced, stale or torn element fails the check.
package workload

import (
	"encoding/binary"
	"math"
)

// mix is splitmix64's finaliser: a bijection on uint64 with good avalanche.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// Value is the 64-bit pattern of element e of step s of dataset d.
func Value(d, s, e uint64) uint64 {
	return mix(mix(mix(d)^s) ^ e)
}

// Put encodes Value(d, s, e) as one element of dtype into p (little-endian),
// which must hold exactly Size(dtype) bytes.
func Put(p []byte, dtype DType, d, s, e uint64) {
	v := Value(d, s, e)
	switch dtype {
	case Int32:
		binary.LittleEndian.PutUint32(p, uint32(v>>1)) // keep values non-negative
	case Int64:
		binary.LittleEndian.PutUint64(p, v>>1)
	case Float64:
		// 53 random bits scaled into [0, 1): exact, never NaN.
		binary.LittleEndian.PutUint64(p, math.Float64bits(float64(v>>11)/(1<<53)))
	default:
		panic("workload: unsupported dtype " + string(dtype))
	}
}

// Fill writes the values of elements [e0, e0+n) of step s of dataset d into
// p, which holds n elements of dtype.
func Fill(p []byte, dtype DType, d, s, e0 uint64, n int) {
	size := dtype.Size()
	for i := range n {
		Put(p[i*size:(i+1)*size], dtype, d, s, e0+uint64(i))
	}
}
