package coord

import (
	"context"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"

	"pwstore/collective"
)

// bcastMsg broadcasts v from root, msgpack-encoded; every rank returns
// root's value.
func bcastMsg[T any](ctx context.Context, c collective.Comm, root int, v T) (T, error) {
	var out T
	var data []byte
	if c.Rank() == root {
		var err error
		if data, err = msgpack.Marshal(v); err != nil {
			return out, fmt.Errorf("encode: %w", err)
		}
	}
	got, err := c.Bcast(ctx, root, data)
	if err != nil {
		return out, err
	}
	if err := unmarshal(got, &out); err != nil {
		return out, fmt.Errorf("decode broadcast from rank %d: %w", root, err)
	}
	return out, nil
}

// allgatherMsg gathers every rank's v on every rank, in rank order.
func allgatherMsg[T any](ctx context.Context, c collective.Comm, v T) ([]T, error) {
	data, err := msgpack.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	got, err := c.Allgather(ctx, data)
	if err != nil {
		return nil, err
	}
	out := make([]T, len(got))
	for r, b := range got {
		if err := unmarshal(b, &out[r]); err != nil {
			return nil, fmt.Errorf("decode message of rank %d: %w", r, err)
		}
	}
	return out, nil
}

// unmarshal decodes a message from another rank. The msgpack decoder can
// panic on some malformed input (a nil where a struct is due); a bad
// message must be an error, never a crash, so that panic is caught here.
func unmarshal(b []byte, v any) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("malformed message: %v", p)
		}
	}()
	return msgpack.Unmarshal(b, v)
}
