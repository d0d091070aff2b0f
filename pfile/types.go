package pfile

import (
	"encoding/binary"
	"fmt"
	"math"
	"unicode/utf8"
)

// Kind is an element kind. Frozen: the values are stored in headers.
type Kind uint8

// Frozen: element kinds.
const (
	KindInt8    Kind = 1
	KindInt16   Kind = 2
	KindInt32   Kind = 3
	KindInt64   Kind = 4
	KindUint8   Kind = 5
	KindUint16  Kind = 6
	KindUint32  Kind = 7
	KindUint64  Kind = 8
	KindFloat32 Kind = 9
	KindFloat64 Kind = 10
	KindBytes   Kind = 11 // fixed-length byte strings of Type.Len bytes
	KindString  Kind = 12 // variable-length UTF-8, attributes only
)

// MaxBytesLen bounds the length of a fixed-length bytes element.
const MaxBytesLen = 1 << 20

// Type is an element type. Len is the element length for KindBytes and
// zero otherwise.
type Type struct {
	Kind Kind
	Len  int
}

// The element types.
var (
	Int8    = Type{Kind: KindInt8}
	Int16   = Type{Kind: KindInt16}
	Int32   = Type{Kind: KindInt32}
	Int64   = Type{Kind: KindInt64}
	Uint8   = Type{Kind: KindUint8}
	Uint16  = Type{Kind: KindUint16}
	Uint32  = Type{Kind: KindUint32}
	Uint64  = Type{Kind: KindUint64}
	Float32 = Type{Kind: KindFloat32}
	Float64 = Type{Kind: KindFloat64}
	String  = Type{Kind: KindString}
)

// Bytes is the type of fixed-length byte strings of n bytes.
func Bytes(n int) Type { return Type{Kind: KindBytes, Len: n} }

var kindNames = [...]string{
	KindInt8: "int8", KindInt16: "int16", KindInt32: "int32", KindInt64: "int64",
	KindUint8: "uint8", KindUint16: "uint16", KindUint32: "uint32", KindUint64: "uint64",
	KindFloat32: "float32", KindFloat64: "float64", KindBytes: "bytes", KindString: "string",
}

func (t Type) String() string {
	if !t.valid() {
		return fmt.Sprintf("type(%d,%d)", t.Kind, t.Len)
	}
	if t.Kind == KindBytes {
		return fmt.Sprintf("bytes%d", t.Len)
	}
	return kindNames[t.Kind]
}

// Size is the element size in bytes (1 for String: its values are bytes).
func (t Type) Size() int {
	switch t.Kind {
	case KindInt8, KindUint8, KindString:
		return 1
	case KindInt16, KindUint16:
		return 2
	case KindInt32, KindUint32, KindFloat32:
		return 4
	case KindInt64, KindUint64, KindFloat64:
		return 8
	case KindBytes:
		return t.Len
	}
	return 0
}

func (t Type) valid() bool {
	switch {
	case t.Kind == KindBytes:
		return t.Len >= 1 && t.Len <= MaxBytesLen
	case t.Kind >= KindInt8 && t.Kind <= KindString:
		return t.Len == 0
	}
	return false
}

// Value is an attribute value: a little-endian array of elements of Type
// (one element for a scalar), or UTF-8 text for String.
type Value struct {
	Type Type
	Data []byte
}

// IntValue is a scalar int64 attribute value.
func IntValue(v int64) Value {
	return Value{Int64, binary.LittleEndian.AppendUint64(nil, uint64(v))}
}

// UintValue is a scalar uint64 attribute value.
func UintValue(v uint64) Value { return Value{Uint64, binary.LittleEndian.AppendUint64(nil, v)} }

// FloatValue is a scalar float64 attribute value.
func FloatValue(v float64) Value {
	return Value{Float64, binary.LittleEndian.AppendUint64(nil, math.Float64bits(v))}
}

// StringValue is a string attribute value.
func StringValue(s string) Value { return Value{String, []byte(s)} }

// Int returns a scalar int64 value.
func (v Value) Int() (int64, bool) {
	if v.Type != Int64 || len(v.Data) != 8 {
		return 0, false
	}
	return int64(binary.LittleEndian.Uint64(v.Data)), true
}

// Uint returns a scalar uint64 value.
func (v Value) Uint() (uint64, bool) {
	if v.Type != Uint64 || len(v.Data) != 8 {
		return 0, false
	}
	return binary.LittleEndian.Uint64(v.Data), true
}

// Float returns a scalar float64 value.
func (v Value) Float() (float64, bool) {
	if v.Type != Float64 || len(v.Data) != 8 {
		return 0, false
	}
	return math.Float64frombits(binary.LittleEndian.Uint64(v.Data)), true
}

// Str returns a string value.
func (v Value) Str() (string, bool) {
	if v.Type != String {
		return "", false
	}
	return string(v.Data), true
}

// MaxValueLen bounds an attribute value's data, MaxAttrName its name,
// MaxAttrs the attributes of one dataset (so a header stays far below the
// 4 GiB its length field can say).
const (
	MaxValueLen = 1 << 16
	MaxAttrName = 255
	MaxAttrs    = 4096
)

func (v Value) check() error {
	if !v.Type.valid() {
		return fmt.Errorf("attribute type %v: %w", v.Type, ErrBadSpec)
	}
	if len(v.Data) > MaxValueLen {
		return fmt.Errorf("attribute value of %d bytes, at most %d: %w", len(v.Data), MaxValueLen, ErrBadSpec)
	}
	if v.Type.Kind == KindString {
		if !utf8.Valid(v.Data) {
			return fmt.Errorf("attribute string is not UTF-8: %w", ErrBadSpec)
		}
		return nil
	}
	if len(v.Data)%v.Type.Size() != 0 {
		return fmt.Errorf("attribute value of %d bytes is not whole %v elements: %w", len(v.Data), v.Type, ErrBadSpec)
	}
	return nil
}
