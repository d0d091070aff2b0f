package main

import (
	"fmt"
	"strconv"
	"strings"
)

// box is a hyperslab: start and count per dimension.
type box struct{ start, count []uint64 }

func (b box) elems() uint64 {
	n := uint64(1)
	for _, c := range b.count {
		n *= c
	}
	return n
}

// parseSlice reads "a:b,c,:" against shape: per dimension a half-open range
// a:b (either end may be left out), a single index a, or ":" for all;
// dimensions left out are taken whole.
func parseSlice(s string, shape []uint64) (box, error) {
	b := box{start: make([]uint64, len(shape)), count: append([]uint64(nil), shape...)}
	if strings.TrimSpace(s) == "" {
		return b, nil
	}
	parts := strings.Split(s, ",")
	if len(parts) > len(shape) {
		return b, fmt.Errorf("%d dimensions given, the dataset has %d", len(parts), len(shape))
	}
	for i, p := range parts {
		p = strings.TrimSpace(p)
		lo, hi := uint64(0), shape[i]
		loS, hiS, isRange := strings.Cut(p, ":")
		var err error
		if loS != "" {
			if lo, err = strconv.ParseUint(loS, 10, 64); err != nil {
				return b, fmt.Errorf("dimension %d: %q is not an index", i, loS)
			}
		}
		switch {
		case !isRange:
			hi = lo + 1
		case hiS != "":
			if hi, err = strconv.ParseUint(hiS, 10, 64); err != nil {
				return b, fmt.Errorf("dimension %d: %q is not an index", i, hiS)
			}
		}
		if lo > hi || hi > shape[i] {
			return b, fmt.Errorf("dimension %d: %d:%d is outside 0:%d", i, lo, hi, shape[i])
		}
		b.start[i], b.count[i] = lo, hi-lo
	}
	return b, nil
}
