package main

import (
	"encoding/binary"
	"math"
	"strconv"

	"pwstore/coord"
)

// formatAll renders each element of buf (little-endian, of type t) as text.
func formatAll(t coord.Type, buf []byte) []string {
	size := t.Size()
	out := make([]string, 0, len(buf)/max(size, 1))
	for i := 0; i+size <= len(buf); i += size {
		out = append(out, format(t, buf[i:i+size]))
	}
	return out
}

func format(t coord.Type, b []byte) string {
	le := binary.LittleEndian
	switch t {
	case coord.Int8:
		return strconv.FormatInt(int64(int8(b[0])), 10)
	case coord.Int16:
		return strconv.FormatInt(int64(int16(le.Uint16(b))), 10)
	case coord.Int32:
		return strconv.FormatInt(int64(int32(le.Uint32(b))), 10)
	case coord.Int64:
		return strconv.FormatInt(int64(le.Uint64(b)), 10)
	case coord.Uint8:
		return strconv.FormatUint(uint64(b[0]), 10)
	case coord.Uint16:
		return strconv.FormatUint(uint64(le.Uint16(b)), 10)
	case coord.Uint32:
		return strconv.FormatUint(uint64(le.Uint32(b)), 10)
	case coord.Uint64:
		return strconv.FormatUint(le.Uint64(b), 10)
	case coord.Float32:
		return strconv.FormatFloat(float64(math.Float32frombits(le.Uint32(b))), 'g', -1, 32)
	case coord.Float64:
		return strconv.FormatFloat(math.Float64frombits(le.Uint64(b)), 'g', -1, 64)
	}
	return strconv.Quote(string(b))
}

// jsonValue makes a formatted element valid JSON (non-finite floats and
// byte strings become strings).
func jsonValue(t coord.Type, s string) string {
	switch t {
	case coord.Float32, coord.Float64:
		if s == "NaN" || s == "+Inf" || s == "-Inf" {
			return strconv.Quote(s)
		}
	}
	return s // integers, and byte strings already quoted
}
