package collective

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
)

// Reductions run up the tree: every inner rank combines its own vector
// with its children's (in ascending rank order) and passes the result on;
// rank 0 publishes the total. Every rank gets the same bits, as one rank
// computed them, in an order fixed by the tree.

func (c *comm) AllreduceInt64(ctx context.Context, op Op, v []int64) ([]int64, error) {
	b, err := c.reduce(ctx, kindAllreduce, kindReduced, op, int64Words(v), combineInt64, nil)
	if err != nil {
		return nil, err
	}
	out := make([]int64, len(v))
	for i := range out {
		out[i] = int64(binary.LittleEndian.Uint64(b[8*i:]))
	}
	return out, nil
}

// AllreduceFloat64: Min and Max follow math.Min and math.Max (a NaN wins).
func (c *comm) AllreduceFloat64(ctx context.Context, op Op, v []float64) ([]float64, error) {
	words := make([]byte, 0, 8*len(v))
	for _, x := range v {
		words = binary.LittleEndian.AppendUint64(words, math.Float64bits(x))
	}
	b, err := c.reduce(ctx, kindAllreduce, kindReduced, op, words, combineFloat64, nil)
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(v))
	for i := range out {
		out[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
	}
	return out, nil
}

// Decide reduces v up the tree to rank 0, which calls decide with the
// result; every rank returns the bytes decide returned. Two message rounds
// (2(N-1) messages): what a sync point needs, a digest check and a verdict.
func (c *comm) Decide(ctx context.Context, op Op, v []int64, decide func(reduced []int64) []byte) ([]byte, error) {
	if decide == nil {
		return nil, fmt.Errorf("collective: decide without a decision function")
	}
	return c.reduce(ctx, kindDecide, kindDecision, op, int64Words(v), combineInt64, func(b []byte) []byte {
		red := make([]int64, len(b)/8)
		for i := range red {
			red[i] = int64(binary.LittleEndian.Uint64(b[8*i:]))
		}
		return decide(red)
	})
}

func int64Words(v []int64) []byte {
	b := make([]byte, 0, 8*len(v))
	for _, x := range v {
		b = binary.LittleEndian.AppendUint64(b, uint64(x))
	}
	return b
}

// combineInt64 folds x into acc, both little-endian 64-bit words.
func combineInt64(op Op, acc, x []byte) {
	for i := 0; i < len(acc); i += 8 {
		a, b := int64(binary.LittleEndian.Uint64(acc[i:])), int64(binary.LittleEndian.Uint64(x[i:]))
		switch op {
		case Sum:
			a += b
		case Min:
			a = min(a, b)
		case Max:
			a = max(a, b)
		}
		binary.LittleEndian.PutUint64(acc[i:], uint64(a))
	}
}

func combineFloat64(op Op, acc, x []byte) {
	for i := 0; i < len(acc); i += 8 {
		a, b := math.Float64frombits(binary.LittleEndian.Uint64(acc[i:])), math.Float64frombits(binary.LittleEndian.Uint64(x[i:]))
		switch op {
		case Sum:
			a += b
		case Min:
			a = math.Min(a, b)
		case Max:
			a = math.Max(a, b)
		}
		binary.LittleEndian.PutUint64(acc[i:], math.Float64bits(a))
	}
}

// reduce runs a reduction of words (8 bytes a value) up the tree rooted at
// rank 0 and returns what rank 0 publishes: the result, or decide(result).
func (c *comm) reduce(ctx context.Context, up, down kind, op Op, words []byte,
	combine func(op Op, acc, x []byte), decide func([]byte) []byte) ([]byte, error) {
	if op < Sum || op > Max {
		return nil, fmt.Errorf("collective: unknown reduction %v", op)
	}
	seq, deadline, err := c.begin(0, up, down)
	if err != nil {
		return nil, err
	}
	parent, downBy, err := c.upward(ctx, seq, up, 0, deadline)
	if err != nil {
		return nil, c.finish(seq, err)
	}
	acc := words
	for i := range c.parts {
		x := c.parts[i].data
		if len(x) != len(words) {
			// The ranks disagree: that breaks the communicator.
			err := protocolf("%s #%d: rank %d (with the ranks below it) gave %d values, rank %d gave %d",
				up.op(), seq, c.from[i], len(x)/8, c.rank, len(words)/8)
			return nil, c.finish(seq, err)
		}
		combine(op, acc, x)
		c.parts[i].data = nil
	}
	var out []byte
	switch {
	case parent >= 0:
		err = c.send(parent, up, seq, acc)
		if err == nil {
			err = c.receive(ctx, seq, down, []int{0}, downBy)
		}
		if err == nil {
			out = c.parts[0].data
			if decide == nil && len(out) != len(words) {
				err = protocolf("%s #%d: rank 0 published %d values, rank %d gave %d", up.op(), seq, len(out)/8, c.rank, len(words)/8)
			}
		}
	case decide != nil:
		out = decide(acc)
		err = c.send(-1, down, seq, out)
	default:
		out = acc
		err = c.send(-1, down, seq, out)
	}
	if err = c.finish(seq, err); err != nil {
		return nil, err
	}
	return out, nil
}
