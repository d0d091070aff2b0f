// Package zerosum computes the xxhash64 (seed 0) of bytes that end in a
// run of zeros without reading the zeros: a metadata page holds a few
// dozen to a few hundred bytes of fields and then zeros to its 4 KiB end,
// and its writer both checksums it (pfile) and indexes it (mdfile). Over
// thousands of pages an end of tick reads megabytes of zeros that it
// knows are zeros; here a run of zeros costs one rotate and one multiply
// per 8 bytes, on registers. The value is exactly xxhash64's, so readers
// check the same checksums with github.com/cespare/xxhash/v2.
package zerosum

import (
	"encoding/binary"
	"math/bits"
)

// xxhash64's primes.
const (
	prime1 uint64 = 11400714785074694791
	prime2 uint64 = 14029467366897019727
	prime3 uint64 = 1609587929392839161
	prime4 uint64 = 9650029242287828579
	prime5 uint64 = 2870177450012600261
)

// Digest is a running xxhash64 of Write and Zeros calls. Its zero value is
// not ready: start with New.
type Digest struct {
	v     [4]uint64
	total uint64
	mem   [32]byte // a stripe not yet full
	n     int      // bytes in mem
}

// New returns an empty digest.
func New() Digest {
	p1, p2 := prime1, prime2 // variables: the sums wrap around, as xxhash64's do
	return Digest{v: [4]uint64{p1 + p2, p2, 0, -p1}}
}

func round(acc, in uint64) uint64 {
	return bits.RotateLeft64(acc+in*prime2, 31) * prime1
}

func (d *Digest) stripe(b []byte) {
	le := binary.LittleEndian
	d.v[0] = round(d.v[0], le.Uint64(b[0:]))
	d.v[1] = round(d.v[1], le.Uint64(b[8:]))
	d.v[2] = round(d.v[2], le.Uint64(b[16:]))
	d.v[3] = round(d.v[3], le.Uint64(b[24:]))
}

// Write adds p.
func (d *Digest) Write(p []byte) {
	d.total += uint64(len(p))
	if d.n > 0 {
		c := copy(d.mem[d.n:], p)
		d.n += c
		p = p[c:]
		if d.n < 32 {
			return
		}
		d.stripe(d.mem[:])
		d.n = 0
	}
	if len(p) >= 32 {
		le := binary.LittleEndian
		v0, v1, v2, v3 := d.v[0], d.v[1], d.v[2], d.v[3]
		for ; len(p) >= 32; p = p[32:] {
			v0 = round(v0, le.Uint64(p[0:8]))
			v1 = round(v1, le.Uint64(p[8:16]))
			v2 = round(v2, le.Uint64(p[16:24]))
			v3 = round(v3, le.Uint64(p[24:32]))
		}
		d.v = [4]uint64{v0, v1, v2, v3}
	}
	d.n = copy(d.mem[:], p)
}

// Zeros adds n zero bytes.
func (d *Digest) Zeros(n int) {
	if n <= 0 {
		return
	}
	d.total += uint64(n)
	if d.n > 0 {
		c := min(n, 32-d.n)
		clear(d.mem[d.n : d.n+c])
		d.n += c
		n -= c
		if d.n < 32 {
			return
		}
		d.stripe(d.mem[:])
		d.n = 0
	}
	// A stripe of zeros: round(v, 0) on each lane.
	v0, v1, v2, v3 := d.v[0], d.v[1], d.v[2], d.v[3]
	for ; n >= 32; n -= 32 {
		v0 = bits.RotateLeft64(v0, 31) * prime1
		v1 = bits.RotateLeft64(v1, 31) * prime1
		v2 = bits.RotateLeft64(v2, 31) * prime1
		v3 = bits.RotateLeft64(v3, 31) * prime1
	}
	d.v = [4]uint64{v0, v1, v2, v3}
	clear(d.mem[:n])
	d.n = n
}

func merge(h, v uint64) uint64 {
	return (h^round(0, v))*prime1 + prime4
}

// Sum64 returns the xxhash64 of what was added.
func (d *Digest) Sum64() uint64 {
	var h uint64
	if d.total >= 32 {
		v := d.v
		h = bits.RotateLeft64(v[0], 1) + bits.RotateLeft64(v[1], 7) + bits.RotateLeft64(v[2], 12) + bits.RotateLeft64(v[3], 18)
		h = merge(merge(merge(merge(h, v[0]), v[1]), v[2]), v[3])
	} else {
		h = d.v[2] + prime5
	}
	h += d.total
	le := binary.LittleEndian
	b := d.mem[:d.n]
	for ; len(b) >= 8; b = b[8:] {
		h ^= round(0, le.Uint64(b))
		h = bits.RotateLeft64(h, 27)*prime1 + prime4
	}
	if len(b) >= 4 {
		h ^= uint64(le.Uint32(b)) * prime1
		h = bits.RotateLeft64(h, 23)*prime2 + prime3
		b = b[4:]
	}
	for _, c := range b {
		h ^= uint64(c) * prime5
		h = bits.RotateLeft64(h, 11) * prime1
	}
	h ^= h >> 33
	h *= prime2
	h ^= h >> 29
	h *= prime3
	h ^= h >> 32
	return h
}

// Sum64 returns the xxhash64 of p followed by n zero bytes.
func Sum64(p []byte, n int) uint64 {
	d := New()
	d.Write(p)
	d.Zeros(n)
	return d.Sum64()
}
