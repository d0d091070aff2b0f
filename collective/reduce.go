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
	if err := checkOp(op); err != nil {
		return nil, err
	}
	buf := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(buf[8*i:], uint64(x))
	}
	all, err := c.allgather(ctx, kindAllreduce, buf)
	if err != nil {
		return nil, err
	}
	if err := c.sameLength(all, len(buf)); err != nil {
		return nil, err
	}
	out := make([]int64, len(v))
	for r, b := range all {
		for i := range out {
			x := int64(binary.LittleEndian.Uint64(b[8*i:]))
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
	if err := checkOp(op); err != nil {
		return nil, err
	}
	buf := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(buf[8*i:], math.Float64bits(x))
	}
	all, err := c.allgather(ctx, kindAllreduce, buf)
	if err != nil {
		return nil, err
	}
	if err := c.sameLength(all, len(buf)); err != nil {
		return nil, err
	}
	out := make([]float64, len(v))
	for r, b := range all {
		for i := range out {
			x := math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
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

func checkOp(op Op) error {
	if op < Sum || op > Max {
		return fmt.Errorf("collective: unknown reduction %v", op)
	}
	return nil
}

// sameLength checks that every rank contributed as many values as this one;
// a mismatch breaks the communicator (the ranks disagree).
func (c *comm) sameLength(all [][]byte, n int) error {
	for r, b := range all {
		if len(b) != n {
			err := protocolf("allreduce #%d: rank %d gave %d values, rank %d gave %d",
				c.cur, r, len(b)/8, c.rank, n/8)
			return c.finish(c.cur, err)
		}
	}
	return nil
}
