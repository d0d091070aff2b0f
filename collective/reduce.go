package collective

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
)

// Allreduce runs as an allgather of the encoded vectors (8 bytes per value,
// little endian) followed by the same reduction, in rank order, on every
// rank: one message round, and bit-identical results everywhere.

func (c *comm) AllreduceInt64(ctx context.Context, op Op, v []int64) ([]int64, error) {
	words := make([]uint64, len(v))
	for i, x := range v {
		words[i] = uint64(x)
	}
	all, err := c.gatherWords(ctx, op, words)
	if err != nil {
		return nil, err
	}
	out := make([]int64, len(v))
	for r, ws := range all {
		for i := range out {
			x := int64(ws[i])
			switch {
			case r == 0:
				out[i] = x
			case op == Sum:
				out[i] += x
			case op == Min:
				out[i] = min(out[i], x)
			case op == Max:
				out[i] = max(out[i], x)
			}
		}
	}
	return out, nil
}

// AllreduceFloat64: Min and Max follow math.Min and math.Max (a NaN wins).
func (c *comm) AllreduceFloat64(ctx context.Context, op Op, v []float64) ([]float64, error) {
	words := make([]uint64, len(v))
	for i, x := range v {
		words[i] = math.Float64bits(x)
	}
	all, err := c.gatherWords(ctx, op, words)
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(v))
	for r, ws := range all {
		for i := range out {
			x := math.Float64frombits(ws[i])
			switch {
			case r == 0:
				out[i] = x
			case op == Sum:
				out[i] += x
			case op == Min:
				out[i] = math.Min(out[i], x)
			case op == Max:
				out[i] = math.Max(out[i], x)
			}
		}
	}
	return out, nil
}

// gatherWords checks op, sends words to every rank and returns every
// rank's words, in rank order, once each has as many as this one.
func (c *comm) gatherWords(ctx context.Context, op Op, words []uint64) ([][]uint64, error) {
	if op < Sum || op > Max {
		return nil, fmt.Errorf("collective: unknown reduction %v", op)
	}
	buf := make([]byte, 0, 8*len(words))
	for _, w := range words {
		buf = binary.LittleEndian.AppendUint64(buf, w)
	}
	all, err := c.allgather(ctx, kindAllreduce, buf)
	if err != nil {
		return nil, err
	}
	out := make([][]uint64, len(all))
	for r, b := range all {
		if len(b) != len(buf) {
			// The ranks disagree: that breaks the communicator.
			err := protocolf("allreduce #%d: rank %d gave %d values, rank %d gave %d",
				c.cur, r, len(b)/8, c.rank, len(words))
			return nil, c.finish(c.cur, err)
		}
		out[r] = make([]uint64, len(words))
		for i := range out[r] {
			out[r][i] = binary.LittleEndian.Uint64(b[8*i:])
		}
	}
	return out, nil
}
