package coord

import "pwstore/pfile"

// Type is the type of a dataset's elements or of an attribute's value: one
// of the constants below, or Bytes(n). It is a small number whose low byte
// is the element kind stored in dataset headers and whose upper bits are
// the length of a Bytes type, so the constants can be passed through a C or
// wire interface as they are. The zero Type is invalid.
type Type uint32

// The element types. Their values are the kinds the file format stores.
const (
	Int8    Type = 1
	Int16   Type = 2
	Int32   Type = 3
	Int64   Type = 4
	Uint8   Type = 5
	Uint16  Type = 6
	Uint32  Type = 7
	Uint64  Type = 8
	Float32 Type = 9
	Float64 Type = 10
	// String is variable-length UTF-8 text: attribute values only.
	String Type = 12
)

// bytesKind is the kind of Bytes(n) types.
const bytesKind = 11

// MaxBytesLen is the longest element of a Bytes type.
const MaxBytesLen = 1 << 20

// Bytes is the type of fixed-length byte strings of n bytes (1 to
// MaxBytesLen). For any other n it returns a type every call rejects.
func Bytes(n int) Type {
	if n < 1 || n > MaxBytesLen {
		return bytesKind
	}
	return Type(n)<<8 | bytesKind
}

// Len is the element length of a Bytes type, 0 for the other types.
func (t Type) Len() int {
	if t&0xff != bytesKind {
		return 0
	}
	return int(t >> 8)
}

// Size is the element size in bytes (1 for String, whose values are bytes).
func (t Type) Size() int { return t.pfile().Size() }

// String names the type: int32, float64, bytes16, ...
func (t Type) String() string { return t.pfile().String() }

func (t Type) pfile() pfile.Type { return pfile.Type{Kind: pfile.Kind(t & 0xff), Len: int(t >> 8)} }

func coordType(t pfile.Type) Type { return Type(t.Kind) | Type(t.Len)<<8 }

// Unlimited as the first dimension of a max shape lets a dataset grow
// along it without bound.
const Unlimited = ^uint64(0)

// Spec describes a dataset: its element type and shapes.
type Spec struct {
	Type Type
	// Shape is the shape at creation; in a listing or View.Spec, the
	// current shape.
	Shape []uint64
	// MaxShape bounds Shape; nil means Shape (a fixed-shape dataset).
	// MaxShape[0] may be Unlimited, no other dimension may.
	MaxShape []uint64
	// Chunk is the chunk shape: the unit of allocation and of I/O. Nil
	// means one chunk of MaxShape (each zero dimension taken as 1); a
	// dataset with an Unlimited dimension needs one.
	Chunk []uint64
}

func (s Spec) pfile() pfile.Spec {
	return pfile.Spec{Type: s.Type.pfile(), Shape: s.Shape, MaxShape: s.MaxShape, Chunk: s.Chunk}
}

func coordSpec(s pfile.Spec) Spec {
	return Spec{Type: coordType(s.Type), Shape: s.Shape, MaxShape: s.MaxShape, Chunk: s.Chunk}
}

// Info describes a dataset in a listing.
type Info struct {
	Path string
	Spec Spec // Shape is the current shape
}

func coordInfos(in []pfile.Info) []Info {
	out := make([]Info, len(in))
	for i, d := range in {
		out[i] = Info{Path: d.Path, Spec: coordSpec(d.Spec)}
	}
	return out
}

// Value is an attribute value: a little-endian array of elements of Type
// (one element for a scalar), or UTF-8 text when Type is String. The
// functions IntValue, UintValue, FloatValue and StringValue make the
// common scalars.
type Value struct {
	Type Type
	Data []byte
}

func (v Value) pfile() pfile.Value { return pfile.Value{Type: v.Type.pfile(), Data: v.Data} }

func coordValue(v pfile.Value) Value { return Value{Type: coordType(v.Type), Data: v.Data} }

// IntValue is a scalar Int64 value.
func IntValue(v int64) Value { return coordValue(pfile.IntValue(v)) }

// UintValue is a scalar Uint64 value.
func UintValue(v uint64) Value { return coordValue(pfile.UintValue(v)) }

// FloatValue is a scalar Float64 value.
func FloatValue(v float64) Value { return coordValue(pfile.FloatValue(v)) }

// StringValue is a String value.
func StringValue(s string) Value { return coordValue(pfile.StringValue(s)) }

// Int returns a scalar Int64 value; false for any other value.
func (v Value) Int() (int64, bool) { return v.pfile().Int() }

// Uint returns a scalar Uint64 value; false for any other value.
func (v Value) Uint() (uint64, bool) { return v.pfile().Uint() }

// Float returns a scalar Float64 value; false for any other value.
func (v Value) Float() (float64, bool) { return v.pfile().Float() }

// Str returns a String value's text; false for any other value.
func (v Value) Str() (string, bool) { return v.pfile().Str() }

// Attr is a named attribute value.
type Attr struct {
	Name  string
	Value Value
}

func coordAttrs(in []pfile.Attr) []Attr {
	out := make([]Attr, len(in))
	for i, a := range in {
		out[i] = Attr{Name: a.Name, Value: coordValue(a.Value)}
	}
	return out
}
