package pfile

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

type dsCase struct {
	name  string
	spec  Spec
	grow  [][]uint64 // shapes to resize to, in order, writing after each
	pages int        // page size
}

func roundTripCases() []dsCase {
	cases := []dsCase{
		{name: "1d-fixed-edge", spec: Spec{Type: Int32, Shape: []uint64{10}, Chunk: []uint64{3}}},
		{name: "1d-one-chunk", spec: Spec{Type: Float64, Shape: []uint64{7}}},
		{name: "2d-unlimited", spec: Spec{Type: Float32, Shape: []uint64{0, 5}, MaxShape: []uint64{Unlimited, 5}, Chunk: []uint64{2, 2}},
			grow: [][]uint64{{3, 5}, {4, 5}, {11, 5}}},
		{name: "3d-fixed", spec: Spec{Type: Uint16, Shape: []uint64{5, 6, 7}, Chunk: []uint64{2, 4, 3}}},
		{name: "3d-resize-inner", spec: Spec{Type: Int64, Shape: []uint64{2, 3, 1}, MaxShape: []uint64{6, 5, 9}, Chunk: []uint64{4, 2, 4}},
			grow: [][]uint64{{2, 5, 6}, {6, 5, 9}}},
		{name: "4d-bytes-unlimited", spec: Spec{Type: Bytes(3), Shape: []uint64{1, 3, 4, 5}, MaxShape: []uint64{Unlimited, 3, 4, 5}, Chunk: []uint64{2, 2, 3, 2}},
			grow: [][]uint64{{5, 3, 4, 5}}},
		{name: "2d-big-chunks-512", spec: Spec{Type: Uint8, Shape: []uint64{0, 700}, MaxShape: []uint64{Unlimited, 700}, Chunk: []uint64{3, 600}},
			grow: [][]uint64{{4, 700}, {9, 700}}, pages: 512},
	}
	for _, typ := range []Type{Int8, Int16, Int32, Int64, Uint8, Uint16, Uint32, Uint64, Float32, Float64, Bytes(1), Bytes(13)} {
		cases = append(cases, dsCase{
			name: "type-" + typ.String(),
			spec: Spec{Type: typ, Shape: []uint64{3, 4}, MaxShape: []uint64{Unlimited, 4}, Chunk: []uint64{2, 3}},
			grow: [][]uint64{{6, 4}},
		})
	}
	return cases
}

// randBox picks a random box inside shape.
func randBox(rng *rand.Rand, shape []uint64) (start, count []uint64) {
	start, count = make([]uint64, len(shape)), make([]uint64, len(shape))
	for i, s := range shape {
		if s == 0 {
			continue
		}
		start[i] = rng.Uint64N(s)
		count[i] = 1 + rng.Uint64N(s-start[i])
	}
	return start, count
}

// TestRoundTrip writes every type and shape in random boxes (some elements
// never), closes, reopens read-only and reads back whole and in random
// boxes; then checks the file.
func TestRoundTrip(t *testing.T) {
	for _, tc := range roundTripCases() {
		t.Run(tc.name, func(t *testing.T) {
			path := tempPath(t, "rt.pw")
			h := createFile(t, path, Options{PageSize: tc.pages})
			ds, err := h.f.CreateDataset("/data/"+tc.name, tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			m := newModel(tc.spec.Shape, tc.spec.Type.Size())
			rng := rand.New(rand.NewPCG(1, uint64(len(tc.name))))
			write := func() {
				for range 4 {
					start, count := randBox(rng, m.shape)
					if total(count) == 0 {
						continue
					}
					if err := ds.WriteSlab(start, count, m.slab(7, start, count)); err != nil {
						t.Fatal(err)
					}
				}
			}
			write()
			for _, shape := range tc.grow {
				if err := ds.Resize(shape); err != nil {
					t.Fatal(err)
				}
				m.grow(shape)
				write()
			}
			// A writer reads its own unflushed writes.
			all := make([]uint64, len(m.shape))
			got := make([]byte, len(m.data))
			if err := ds.ReadSlab(all, m.shape, got); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, m.data) {
				t.Fatal("writer's read-back differs before flush")
			}
			if err := ds.SetAttr("units", StringValue("m/s")); err != nil {
				t.Fatal(err)
			}
			if err := ds.SetAttr("step", IntValue(-42)); err != nil {
				t.Fatal(err)
			}
			h.close(t)

			r := mustOpen(t, path, true)
			rd, err := r.f.Dataset("/data/" + tc.name)
			if err != nil {
				t.Fatal(err)
			}
			spec, err := rd.Spec()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(spec.Shape, m.shape) || spec.Type != tc.spec.Type {
				t.Fatalf("reopened spec %+v, want shape %v type %v", spec, m.shape, tc.spec.Type)
			}
			if err := rd.ReadSlab(all, m.shape, got); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, m.data) {
				t.Fatal("whole read-back differs")
			}
			for range 20 {
				start, count := randBox(rng, m.shape)
				want := m.want(start, count)
				buf := make([]byte, len(want))
				if err := rd.ReadSlab(start, count, buf); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(buf, want) {
					t.Fatalf("box %v+%v differs", start, count)
				}
			}
			if v, ok, err := rd.Attr("step"); err != nil || !ok {
				t.Fatalf("attr step: %v %v", ok, err)
			} else if n, _ := v.Int(); n != -42 {
				t.Fatalf("attr step = %d", n)
			}
			if v, _, _ := rd.Attr("units"); string(v.Data) != "m/s" {
				t.Fatalf("attr units = %q", v.Data)
			}
			if err := r.f.Check(CheckOptions{Closed: true}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestUnwrittenReadsZero: elements never written read as the fill value 0,
// including in chunks that were allocated and never touched.
func TestUnwrittenReadsZero(t *testing.T) {
	path := tempPath(t, "zero.pw")
	h := createFile(t, path, Options{})
	ds, err := h.f.CreateDataset("z", Spec{Type: Int64, Shape: []uint64{4, 8}, MaxShape: []uint64{Unlimited, 8}, Chunk: []uint64{2, 4}})
	if err != nil {
		t.Fatal(err)
	}
	one := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	if err := ds.WriteSlab([]uint64{1, 5}, []uint64{1, 1}, one); err != nil {
		t.Fatal(err)
	}
	if err := ds.Extend(10); err != nil {
		t.Fatal(err)
	}
	h.close(t)
	r := mustOpen(t, path, true)
	rd, err := r.f.Dataset("z")
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 10*8*8)
	if err := rd.ReadSlab([]uint64{0, 0}, []uint64{10, 8}, got); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(got); i += 8 {
		want := make([]byte, 8)
		if i == (1*8+5)*8 {
			want = one
		}
		if !bytes.Equal(got[i:i+8], want) {
			t.Fatalf("element %d = %v, want %v", i/8, got[i:i+8], want)
		}
	}
	checkClosed(t, path)
}

// TestManyAttributes grows a header past one page (it moves, the catalog
// follows) and replaces values.
func TestManyAttributes(t *testing.T) {
	path := tempPath(t, "attrs.pw")
	h := createFile(t, path, Options{PageSize: 512})
	ds, err := h.f.CreateDataset("a", Spec{Type: Int8, Shape: []uint64{4}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 60 {
		if err := ds.SetAttr(fmt.Sprintf("k%03d", i), FloatValue(float64(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := ds.SetAttr("k007", StringValue("replaced")); err != nil {
		t.Fatal(err)
	}
	if err := ds.SetAttr("", IntValue(1)); err == nil {
		t.Fatal("empty attribute name accepted")
	}
	if ds.at.npages < 2 {
		t.Fatalf("header still %d page(s) after 60 attributes", ds.at.npages)
	}
	if err := h.f.Check(CheckOptions{}); err != nil {
		t.Fatal(err)
	}
	h.close(t)
	r := mustOpen(t, path, true)
	rd, err := r.f.Dataset("a")
	if err != nil {
		t.Fatal(err)
	}
	attrs, err := rd.Attrs()
	if err != nil {
		t.Fatal(err)
	}
	if len(attrs) != 60 {
		t.Fatalf("%d attributes, want 60", len(attrs))
	}
	for i, a := range attrs {
		if a.Name != fmt.Sprintf("k%03d", i) {
			t.Fatalf("attribute %d is %q", i, a.Name)
		}
		if i == 7 {
			if s, _ := a.Value.Str(); s != "replaced" {
				t.Fatalf("k007 = %q", s)
			}
		} else if v, _ := a.Value.Float(); v != float64(i) {
			t.Fatalf("%s = %v", a.Name, v)
		}
	}
	if err := r.f.Check(CheckOptions{Closed: true}); err != nil {
		t.Fatal(err)
	}
}
