// Package corrupt holds the one error marker that every decoder in pwstore
// returns for bytes that are not what they should be: wrong magic, bad
// checksum, a length or offset out of bounds. Callers test for it with
// errors.Is(err, corrupt.Err), whatever decoder produced it.
package corrupt

import (
	"errors"
	"fmt"
)

// Err marks corruption. Every decoder's error wraps it.
var Err = errors.New("corrupt data")

// Errorf formats a corruption error; the result satisfies errors.Is(err, Err).
// A %w verb in format is honoured too, so a decoder can add its own distinct
// sentinel (errors.Is then matches both).
func Errorf(format string, args ...any) error {
	inner := fmt.Errorf(format, args...)
	return &corruption{msg: inner.Error(), inner: errors.Unwrap(inner)}
}

type corruption struct {
	msg   string
	inner error // the %w operand, if any
}

func (c *corruption) Error() string { return c.msg + ": " + Err.Error() }

func (c *corruption) Unwrap() []error {
	if c.inner == nil {
		return []error{Err}
	}
	return []error{Err, c.inner}
}
