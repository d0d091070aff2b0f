package pfile

import (
	"encoding/binary"
	"fmt"

	"pwstore/internal/storage/corrupt"
)

// enc appends little-endian fields to a payload.
type enc struct{ b []byte }

func (e *enc) u8(v uint8)   { e.b = append(e.b, v) }
func (e *enc) u16(v uint16) { e.b = binary.LittleEndian.AppendUint16(e.b, v) }
func (e *enc) u32(v uint32) { e.b = binary.LittleEndian.AppendUint32(e.b, v) }
func (e *enc) u64(v uint64) { e.b = binary.LittleEndian.AppendUint64(e.b, v) }
func (e *enc) str16(s string) {
	e.u16(uint16(len(s)))
	e.b = append(e.b, s...)
}

// dec reads fields from a payload, checking every length against what is
// left. The first failure sticks: later reads return zeros, and err says
// what was being read where.
type dec struct {
	b    []byte
	off  int
	what string // the object being decoded, for error messages
	err  error
	s    string // b as a string, made on the first str16
}

func (d *dec) fail(format string, args ...any) {
	if d.err == nil {
		d.err = corrupt.Errorf("%s: %s", d.what, fmt.Sprintf(format, args...))
	}
}

func (d *dec) take(n int, field string) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b)-d.off {
		d.fail("%s: %d bytes at offset %d, only %d left", field, n, d.off, len(d.b)-d.off)
		return nil
	}
	p := d.b[d.off : d.off+n]
	d.off += n
	return p
}

func (d *dec) u8(field string) uint8 {
	if p := d.take(1, field); p != nil {
		return p[0]
	}
	return 0
}

func (d *dec) u16(field string) uint16 {
	if p := d.take(2, field); p != nil {
		return binary.LittleEndian.Uint16(p)
	}
	return 0
}

func (d *dec) u32(field string) uint32 {
	if p := d.take(4, field); p != nil {
		return binary.LittleEndian.Uint32(p)
	}
	return 0
}

func (d *dec) u64(field string) uint64 {
	if p := d.take(8, field); p != nil {
		return binary.LittleEndian.Uint64(p)
	}
	return 0
}

// str16 reads a string with a u16 length. Strings are cut from one copy
// of the payload, so a node of a hundred keys costs one allocation.
func (d *dec) str16(field string) string {
	n := int(d.u16(field))
	at := d.off
	if d.take(n, field) == nil {
		return ""
	}
	if d.s == "" {
		d.s = string(d.b)
	}
	return d.s[at : at+n]
}

// done reports trailing bytes as corruption: a payload must be exactly
// what its fields say.
func (d *dec) done() error {
	if d.err == nil && d.off != len(d.b) {
		d.fail("%d trailing bytes", len(d.b)-d.off)
	}
	return d.err
}
